"""The merged Llama model's generation step (llm_export.py) exported from PyTorch: ONNX through
the dynamo exporter (torch.export), TorchScript by tracing, and an AOTInductor package; ONNX
Runtime and LibTorch run the files (onnxruntime_llm_run.py, fwbench llm-export-run).

The step computes what torch_llm.LlamaForCausalLM computes through its cache, written so that
every exporter sees shape-static tensor code: the positions come from the tokens' own shape
(cumsum of ones, not arange over a Python int a trace would bake in), the cache is written with
index_copy at those positions, and attention covers the whole fixed-size cache with a mask."""
import math
import os
import shutil
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from .llama_files import read_checkpoint, read_config
from .llm_export import first_line
from .protocol import written_in_place_of
from .torch_llm import LlamaForCausalLM, load_strict, rotate_half


class ExportStep(nn.Module):
    """(tokens [B, T] int64, keys/values [L, B, Hkv, S, D], start [1] int64) ->
    (logits of the last position [B, V] fp32, keys_out, values_out)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.register_buffer("inv_freq", model.inv_freq.clone(), persistent=False)

    def forward(self, tokens, keys, values, start):
        body = self.model.model
        b = tokens.shape[0]
        positions = start + torch.cumsum(torch.ones_like(tokens[0]), 0) - 1  # [T]
        freqs = positions.float()[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        cache_len = keys.shape[3]
        hidden = torch.arange(cache_len, device=tokens.device)[None, :] > positions[:, None]
        h = body.embed_tokens(tokens)
        keys_out, values_out = [], []
        for i, layer in enumerate(body.layers):
            a = layer.self_attn
            x = layer.input_layernorm(h)
            q = a.q_proj(x).view(b, -1, a.heads, a.head_dim).transpose(1, 2)
            k = a.k_proj(x).view(b, -1, a.kv_heads, a.head_dim).transpose(1, 2)
            v = a.v_proj(x).view(b, -1, a.kv_heads, a.head_dim).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            ck = keys[i].index_copy(2, positions, k)
            cv = values[i].index_copy(2, positions, v)
            keys_out.append(ck)
            values_out.append(cv)
            groups = a.heads // a.kv_heads
            if groups > 1:
                ck = ck.repeat_interleave(groups, dim=1)
                cv = cv.repeat_interleave(groups, dim=1)
            scores = torch.matmul(q, ck.transpose(2, 3)) / math.sqrt(a.head_dim)
            scores = scores.masked_fill(hidden, float("-inf"))
            probs = torch.softmax(scores.float(), dim=-1).to(q.dtype)
            out = torch.matmul(probs, cv).transpose(1, 2).reshape(b, -1, a.heads * a.head_dim)
            h = h + a.o_proj(out)
            h = h + layer.mlp(layer.post_attention_layernorm(h))
        h = body.norm(h[:, -1])
        m = self.model
        logits = F.linear(h, body.embed_tokens.weight) if m.tied else m.lm_head(h)
        return logits.float(), torch.stack(keys_out), torch.stack(values_out)


def build_step(checkpoint):
    config = read_config(checkpoint)
    model = LlamaForCausalLM(config)
    load_strict(dict(model.named_parameters()), read_checkpoint(checkpoint), checkpoint)
    return ExportStep(model.eval()).eval(), config


def example_inputs(config, prompt_len, cache_len):
    c = config
    shape = (c["num_hidden_layers"], 1, c["num_key_value_heads"], cache_len,
             c["hidden_size"] // c["num_attention_heads"])
    return (torch.zeros(1, prompt_len, dtype=torch.int64), torch.zeros(shape),
            torch.zeros(shape), torch.zeros(1, dtype=torch.int64))


NAMES = (["tokens", "keys", "values", "start"], ["logits", "keys_out", "values_out"])
# What the exported step does differently from the port's forward, for every PyTorch converter.
CHANGES = ["the cache is an input and an output, written with index_copy at positions derived from "
           "the tokens' shape, not in place at a Python-int start (an export fixes a Python int at "
           "its example's value)"]


def _onnx(step, example, cache_len, path):
    import onnxscript
    tokens = torch.export.Dim("tokens", min=1, max=cache_len)
    program = torch.onnx.export(step, example, dynamo=True, input_names=NAMES[0],
                                output_names=NAMES[1],
                                dynamic_shapes=({1: tokens}, None, None, None))
    with written_in_place_of(path, ".onnx") as tmp:
        # One file: the Node runtime and a user's copy need no second weights file.
        program.save(tmp, external_data=False)
    opset = next((o.version for o in program.model_proto.opset_import if o.domain == ""), "?")
    return (f"torch.onnx dynamo exporter (torch {torch.__version__}, onnxscript "
            f"{onnxscript.__version__}, opset {opset})")


def _torchscript(step, example, path):
    traced = torch.jit.trace(step, example, check_trace=False)
    # The trace is of a prompt-length call; a decode-length call must give the same function.
    check = (torch.zeros(1, 1, dtype=torch.int64), example[1], example[2],
             torch.tensor([3], dtype=torch.int64))
    want, got = step(*check), traced(*check)
    if not all(torch.equal(w, g) for w, g in zip(want, got)):
        raise RuntimeError("the trace computes something else for one token than the model")
    with written_in_place_of(path, ".pt") as tmp:
        traced.save(tmp)
    return f"torch.jit.trace (torch {torch.__version__})"


def _aoti(step, example, cache_len, path, threads):
    os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", str(threads))
    # A cache of its own, as aoti_export.py: the cold compile a first deployment pays.
    cache = f"{path}.inductor-cache.{os.getpid()}"
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
    # Freezing (weights as constants, prepacked), as aoti_export.py does: PyTorch's advice for
    # CPU inference.
    torch._inductor.config.freezing = True
    tokens = torch.export.Dim("tokens", min=1, max=cache_len)
    try:
        exported = torch.export.export(step, example,
                                       dynamic_shapes=({1: tokens}, None, None, None))
        with written_in_place_of(path, ".pt2") as tmp:
            torch._inductor.aoti_compile_and_package(exported, package_path=tmp)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return f"torch.export + AOTInductor (torch {torch.__version__}), freezing"


def export(request):
    """llm_export.export for onnx-dynamo, torchscript and aoti."""
    kind = request["export"]
    converter = {"onnx-dynamo": "torch.onnx dynamo exporter", "torchscript": "torch.jit.trace",
                 "aoti": "torch.export + AOTInductor"}[kind] + f" (torch {torch.__version__})"
    t0 = time.monotonic()
    threads = int(request.get("threads", 1))
    torch.set_num_threads(threads)
    path = request["file"]
    try:
        step, config = build_step(request["checkpoint"])
        example = example_inputs(config, request["prompt_len"], request["cache_len"])
        with torch.no_grad():
            if kind == "onnx-dynamo":
                converter = _onnx(step, example, request["cache_len"], path)
            elif kind == "torchscript":
                converter = _torchscript(step, example, path)
            else:
                converter = _aoti(step, example, request["cache_len"], path, threads)
    except Exception as e:  # noqa: BLE001 - a converter's failure is the finding
        return {"ok": False, "converter": converter, "reason": first_line(e), "changes": CHANGES}
    return {"ok": True, "file": path, "converter": converter, "seconds": time.monotonic() - t0,
            "changes": CHANGES}
