"""PyTorch (Python) port of the LLM LoRA workload: the Llama model of src/models/llama.h in plain
PyTorch, with the same Hugging Face parameter names, LoRA adapters (no PEFT dependency) and a KV
cache for generation.

Modes: eager; compiled (torch.compile, PyTorch >= 2.0) for training only: generation through a
KV cache changes its shapes every token, which torch.compile would recompile for, so compiled
inference is refused (as libtorch/compiled refuses it).
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import safetensors_np
from .llama_files import (PEFT_PREFIX, check_names, read_adapter,  # noqa: F401 - shared
                          read_checkpoint, read_config)
from .protocol import Unsupported, UsageError
from .torch_setup import TorchSetup

LLM_MODES = ("eager", "compiled")


class Projection(nn.Module):
    """y = x Wᵀ (+ scaling · B(A(x)) with an adapter); the base weight keeps its HF name."""

    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.lora_A = None
        self.lora_B = None
        self.scaling = 0.0

    def add_adapter(self, rank, alpha):
        out_features, in_features = self.weight.shape
        self.lora_A = nn.Linear(in_features, rank, bias=False)
        self.lora_B = nn.Linear(rank, out_features, bias=False)
        self.scaling = alpha / rank

    def forward(self, x):
        y = F.linear(x, self.weight)
        if self.lora_A is not None:
            y = y + self.lora_B(self.lora_A(x)) * self.scaling
        return y


class RmsNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        x32 = x.float()
        return self.weight * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads, self.kv_heads = c["num_attention_heads"], c["num_key_value_heads"]
        self.head_dim = c["hidden_size"] // self.heads
        h = c["hidden_size"]
        self.q_proj = Projection(h, self.heads * self.head_dim)
        self.k_proj = Projection(h, self.kv_heads * self.head_dim)
        self.v_proj = Projection(h, self.kv_heads * self.head_dim)
        self.o_proj = Projection(self.heads * self.head_dim, h)

    def forward(self, x, cos, sin, cache, start: int):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        cos, sin = cos.to(q.dtype), sin.to(q.dtype)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        total = t
        if cache is not None:
            ck, cv = cache
            ck[:, :, start:start + t] = k
            cv[:, :, start:start + t] = v
            total = start + t
            k, v = ck[:, :, :total], cv[:, :, :total]
        groups = self.heads // self.kv_heads
        if groups > 1:
            k = k.repeat_interleave(groups, dim=1)
            v = v.repeat_interleave(groups, dim=1)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim)
        if t > 1:
            mask = torch.ones(t, total, dtype=torch.bool, device=x.device).triu(total - t + 1)
            scores = scores.masked_fill(mask, float("-inf"))
        probs = torch.softmax(scores.float(), dim=-1).to(q.dtype)
        out = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, self.heads * self.head_dim)
        return self.o_proj(out)


class Mlp(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, m = c["hidden_size"], c["intermediate_size"]
        self.gate_proj, self.up_proj, self.down_proj = Projection(h, m), Projection(h, m), Projection(m, h)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RmsNorm(c["hidden_size"], c["rms_norm_eps"])
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RmsNorm(c["hidden_size"], c["rms_norm_eps"])
        self.mlp = Mlp(c)

    def forward(self, x, cos, sin, cache, start: int):
        h = x + self.self_attn(self.input_layernorm(x), cos, sin, cache, start)
        return h + self.mlp(self.post_attention_layernorm(h))


class Body(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(DecoderLayer(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RmsNorm(c["hidden_size"], c["rms_norm_eps"])


class LlamaForCausalLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.model = Body(c)
        self.tied = c["tie_word_embeddings"]
        self.lm_head = None if self.tied else nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        d = c["hidden_size"] // c["num_attention_heads"]
        inv = 1.0 / torch.pow(torch.tensor(c["rope_theta"], dtype=torch.float64),
                              torch.arange(0, d, 2, dtype=torch.float64) / d)
        self.inv_freq = inv.float()

    def rope(self, start, length, device):
        positions = torch.arange(start, start + length, dtype=torch.float32)
        freqs = torch.outer(positions, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(device), emb.sin().to(device)

    def forward(self, tokens, caches=None, start: int = 0):
        cos, sin = self.rope(start, tokens.shape[1], tokens.device)
        h = self.model.embed_tokens(tokens)
        for i, layer in enumerate(self.model.layers):
            h = layer(h, cos, sin, None if caches is None else caches[i], start)
        h = self.model.norm(h)
        logits = F.linear(h, self.model.embed_tokens.weight) if self.tied else self.lm_head(h)
        return logits.float()


def matmul_for(n):
    """One fp32 n x n product for matmul_peak.measure: torch.mm, the GEMM of the linear layers."""
    a, b = torch.full((n, n), 0.5), torch.full((n, n), 0.25)
    c = torch.empty((n, n))
    return lambda: torch.mm(a, b, out=c)


def load_strict(params, tensors, what):
    check_names(params, tensors, what)
    with torch.no_grad():
        for name, p in params.items():
            t = torch.from_numpy(tensors[name])
            if tuple(t.shape) != tuple(p.shape):
                raise UsageError(f"{what}: tensor '{name}' has shape {list(t.shape)}, the model "
                                 f"expects {list(p.shape)}")
            p.copy_(t)


class LlmPort(TorchSetup):
    framework = "pytorch"
    version = torch.__version__

    def __init__(self, spec):
        self.spec = spec
        self.llm = spec["llm"]
        self.train = spec["task"] == "train"
        self.mode = spec["mode"]
        self.compiles = self.mode == "compiled"
        self.dtype = torch.bfloat16 if spec["precision"] == "bf16" else torch.float32

    def check_supported(self):
        if self.mode not in LLM_MODES:
            raise Unsupported(f"pytorch/{self.mode} does not run the llm_lora workload (modes that "
                              f"do: {', '.join(LLM_MODES)})")
        if self.mode == "compiled" and not self.train:
            raise Unsupported("pytorch/compiled does not generate text: the KV cache changes shape "
                              "every token, so torch.compile would recompile for each; compare "
                              "LLM inference with pytorch/eager")
        if self.mode == "compiled" and int(torch.__version__.split(".")[0]) < 2:
            raise Unsupported(f"torch.compile needs PyTorch >= 2.0; this is {torch.__version__}")
        if self.llm["lora_dropout"] > 0:
            raise Unsupported("the PyTorch LLM port runs lora_dropout = 0 only: dropout masks "
                              "differ between frameworks, so parity could not hold")
        self.check_device()

    def build(self):
        self.model = LlamaForCausalLM(read_config(self.spec["weights"])).to(self.device)

    def load_weights(self):
        model = self.model
        base = dict(model.named_parameters())
        load_strict(base, read_checkpoint(self.spec["weights"]),
                    f"checkpoint '{self.spec['weights']}'")
        for p in model.parameters():
            p.requires_grad_(False)
        for layer in model.model.layers:
            for target in self.llm["lora_targets"]:
                owner = layer.mlp if target in ("gate_proj", "up_proj", "down_proj") else layer.self_attn
                getattr(owner, target).add_adapter(self.llm["lora_rank"], self.llm["lora_alpha"])
        model.to(self.device)
        adapters = {n: p for n, p in model.named_parameters() if ".lora_" in n}
        path, tensors = read_adapter(self.llm["adapter_init"])
        load_strict(adapters, tensors, f"adapter '{path}'")
        self.adapters = list(adapters.values())
        if not self.train and self.dtype != torch.float32:
            model.to(self.dtype)
        model.train(self.train)
        self.forward = model

    def compile(self, example):
        self.forward = torch.compile(self.model)
        self.forward(example).float().sum().backward()  # compiles forward and backward
        for p in self.adapters:
            p.grad = None

    def make_optimizer(self):
        self.optimizer = torch.optim.AdamW(self.adapters, lr=self.spec["optimizer"]["lr"],
                                           weight_decay=self.spec["optimizer"]["weight_decay"])

    def to_input(self, rows):
        return torch.from_numpy(rows).long().to(self.device)

    def train_step(self, batch):
        t = batch.shape[1] - 1
        self.optimizer.zero_grad()
        with torch.autocast(self.device.type, dtype=torch.bfloat16,
                            enabled=self.dtype == torch.bfloat16):
            logits = self.forward(batch[:, :t])
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def new_cache(self, batch, length):
        c = self.model.config
        shape = (batch, c["num_key_value_heads"], length, c["hidden_size"] // c["num_attention_heads"])
        dtype = self.model.model.embed_tokens.weight.dtype
        return [(torch.zeros(shape, dtype=dtype, device=self.device),
                 torch.zeros(shape, dtype=dtype, device=self.device))
                for _ in range(c["num_hidden_layers"])]

    def generate(self, prompt, new_tokens, cache, on_first_token):
        """Greedy decoding through the KV cache; returns the logits after the prompt."""
        with torch.inference_mode():
            logits = self.model(prompt, cache, 0)
            last = logits[:, -1]
            nxt = last.argmax(-1, keepdim=True)
            self.sync()
            on_first_token()
            pos = prompt.shape[1]
            for _ in range(1, new_tokens):
                nxt = self.model(nxt, cache, pos)[:, 0].argmax(-1, keepdim=True)
                pos += 1
            return last

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def numpy(self, tensor):
        return tensor.float().cpu().numpy()

    def save_adapter(self, folder):
        os.makedirs(folder, exist_ok=True)
        tensors = {PEFT_PREFIX + n: p.detach().cpu().numpy()
                   for n, p in self.model.named_parameters() if ".lora_" in n}
        safetensors_np.write(os.path.join(folder, "adapter_model.safetensors"), tensors,
                             {"format": "pt"})
        with open(os.path.join(self.llm["adapter_init"], "adapter_config.json"), encoding="utf-8") as f:
            config = json.load(f)
        with open(os.path.join(folder, "adapter_config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
