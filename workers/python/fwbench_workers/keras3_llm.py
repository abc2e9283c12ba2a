"""Keras 3 port of the LLM LoRA workload: the Llama model of src/models/llama.h in Keras layers
and keras.ops, on the trial's Keras backend (tensorflow, jax or torch), with the same Hugging
Face parameter names, LoRA adapters as PEFT defines them and a fixed-size KV cache.

Kernels are kept as Keras lays them out, [in, out] (W transposed once at load); an adapter is
A [in, rank] and B [rank, out] (PEFT's lora_A and lora_B transposed) applied as x·A·B: the same
work as the PyTorch port. Keras's own Dense.enable_lora adds A·B into the kernel on every call,
so its backward pass computes the frozen kernel's full gradient, work LoRA exists to avoid.

Modes: tensorflow and jax train through Keras's compiled train step with jit_compile on (XLA),
tensorflow-nojit and jax-nojit with it off (a tf.function graph; JAX op by op), torch eagerly
(Keras's jit_compile on torch is torch.compile, which recompiles for every KV-cache shape).
Generation uses the same compiler as training: tf.function(jit_compile=…) and jax.jit around
one forward step, so prefill and decode compile once each.
"""
import json
import math
import os

import keras
import numpy as np
from keras import ops

from . import safetensors_np
from .protocol import Unsupported, UsageError
from .llama_files import PEFT_PREFIX, check_names, read_adapter, read_checkpoint, read_config

MLP_TARGETS = ("gate_proj", "up_proj", "down_proj")


def backend_of(mode):
    """The Keras backend a mode runs on: tensorflow-nojit on tensorflow."""
    return mode.split("-")[0]


def jit_of(mode):
    return backend_of(mode) != "torch" and not mode.endswith("-nojit")


class Projection(keras.layers.Layer):
    """y = x·kernel (+ scaling · (x·A)·B with an adapter); kernel = W of Hugging Face, transposed."""

    def __init__(self, in_features, out_features, name):
        super().__init__(name=name)
        self.kernel = self.add_weight(shape=(in_features, out_features), initializer="zeros",
                                      trainable=False, name="kernel")
        self.lora_a = None
        self.lora_b = None
        self.scaling = 0.0
        self.built = True

    def add_adapter(self, rank, alpha):
        in_features, out_features = self.kernel.shape
        self.lora_a = self.add_weight(shape=(in_features, rank), initializer="zeros",
                                      name="lora_A")
        self.lora_b = self.add_weight(shape=(rank, out_features), initializer="zeros",
                                      name="lora_B")
        self.scaling = alpha / rank

    def call(self, x):
        y = ops.matmul(x, self.kernel)
        if self.lora_a is not None:
            y = y + ops.matmul(ops.matmul(x, self.lora_a), self.lora_b) * self.scaling
        return y


class RmsNorm(keras.layers.Layer):
    def __init__(self, size, eps, name):
        super().__init__(name=name)
        self.weight = self.add_weight(shape=(size,), initializer="ones", trainable=False,
                                      name="weight")
        self.eps = eps
        self.built = True

    def call(self, x):
        x32 = ops.cast(x, "float32")
        norm = x32 * ops.rsqrt(ops.mean(ops.square(x32), axis=-1, keepdims=True) + self.eps)
        return self.weight * ops.cast(norm, x.dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return ops.concatenate([-x[..., half:], x[..., :half]], axis=-1)


class Attention(keras.layers.Layer):
    def __init__(self, c, name):
        super().__init__(name=name)
        self.heads, self.kv_heads = c["num_attention_heads"], c["num_key_value_heads"]
        self.head_dim = c["hidden_size"] // self.heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        h = c["hidden_size"]
        self.q_proj = Projection(h, self.heads * self.head_dim, "q_proj")
        self.k_proj = Projection(h, self.kv_heads * self.head_dim, "k_proj")
        self.v_proj = Projection(h, self.kv_heads * self.head_dim, "v_proj")
        self.o_proj = Projection(self.heads * self.head_dim, h, "o_proj")
        self.built = True

    def split(self, x, heads):
        b, t = ops.shape(x)[0], ops.shape(x)[1]
        return ops.transpose(ops.reshape(x, (b, t, heads, self.head_dim)), (0, 2, 1, 3))

    def call(self, x, cos, sin, mask, cache=None, start=0):
        b, t = ops.shape(x)[0], ops.shape(x)[1]
        q = self.split(self.q_proj(x), self.heads)
        k = self.split(self.k_proj(x), self.kv_heads)
        v = self.split(self.v_proj(x), self.kv_heads)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache is not None:
            # A fixed-size cache: the new keys and values written at `start`; the mask hides
            # the positions not written yet, so every step has the same shapes.
            ck, cv = cache
            at = (0, 0, start, 0)
            k = ops.slice_update(ck, at, ops.cast(k, ck.dtype))
            v = ops.slice_update(cv, at, ops.cast(v, cv.dtype))
            cache = (k, v)
        groups = self.heads // self.kv_heads
        keys, values = k, v
        if groups > 1:
            keys = ops.repeat(k, groups, axis=1)
            values = ops.repeat(v, groups, axis=1)
        scores = ops.matmul(q, ops.transpose(keys, (0, 1, 3, 2))) * self.scale
        scores = ops.where(mask, scores, ops.full_like(scores, -np.inf))
        probs = ops.softmax(ops.cast(scores, "float32"), axis=-1)
        out = ops.matmul(ops.cast(probs, q.dtype), values)
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (b, t, self.heads * self.head_dim))
        return self.o_proj(out), cache


class Mlp(keras.layers.Layer):
    def __init__(self, c, name):
        super().__init__(name=name)
        h, m = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = Projection(h, m, "gate_proj")
        self.up_proj = Projection(h, m, "up_proj")
        self.down_proj = Projection(m, h, "down_proj")
        self.built = True

    def call(self, x):
        return self.down_proj(ops.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(keras.layers.Layer):
    def __init__(self, c, name):
        super().__init__(name=name)
        self.input_layernorm = RmsNorm(c["hidden_size"], c["rms_norm_eps"], "input_layernorm")
        self.self_attn = Attention(c, "self_attn")
        self.post_attention_layernorm = RmsNorm(c["hidden_size"], c["rms_norm_eps"],
                                                "post_attention_layernorm")
        self.mlp = Mlp(c, "mlp")
        self.built = True

    def call(self, x, cos, sin, mask, cache=None, start=0):
        a, cache = self.self_attn(self.input_layernorm(x), cos=cos, sin=sin, mask=mask, cache=cache,
                                  start=start)
        h = x + a
        return h + self.mlp(self.post_attention_layernorm(h)), cache


class LlamaForCausalLM(keras.Model):
    """call(tokens) -> logits for training; step(tokens, caches, start) -> (logits, caches)."""

    def __init__(self, c):
        super().__init__(name="llama")
        self.hf_config = dict(c)
        h, v = c["hidden_size"], c["vocab_size"]
        self.embed_tokens = self.add_weight(shape=(v, h), initializer="zeros", trainable=False,
                                            name="embed_tokens")
        self.decoder_layers = [DecoderLayer(c, f"layers_{i}")
                               for i in range(c["num_hidden_layers"])]
        self.norm = RmsNorm(h, c["rms_norm_eps"], "norm")
        self.tied = c["tie_word_embeddings"]
        self.lm_head = None if self.tied else Projection(h, v, "lm_head")
        d = h // c["num_attention_heads"]
        inv = 1.0 / np.power(np.float64(c["rope_theta"]), np.arange(0, d, 2, dtype=np.float64) / d)
        positions = np.arange(c["max_position_embeddings"], dtype=np.float32)
        freqs = np.outer(positions, inv.astype(np.float32))
        emb = np.concatenate([freqs, freqs], axis=-1)
        # Backend tensors once, not a numpy → tensor conversion in every step.
        self.cos_table = ops.convert_to_tensor(np.cos(emb))
        self.sin_table = ops.convert_to_tensor(np.sin(emb))
        self.built = True

    def named_weights(self):
        """{Hugging Face name: (variable, transposed)} of the base model."""
        out = {"model.embed_tokens.weight": (self.embed_tokens, False),
               "model.norm.weight": (self.norm.weight, False)}
        for i, layer in enumerate(self.decoder_layers):
            p = f"model.layers.{i}."
            out[p + "input_layernorm.weight"] = (layer.input_layernorm.weight, False)
            out[p + "post_attention_layernorm.weight"] = (layer.post_attention_layernorm.weight,
                                                          False)
            for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
                out[f"{p}self_attn.{n}.weight"] = (getattr(layer.self_attn, n).kernel, True)
            for n in MLP_TARGETS:
                out[f"{p}mlp.{n}.weight"] = (getattr(layer.mlp, n).kernel, True)
        if not self.tied:
            out["lm_head.weight"] = (self.lm_head.kernel, True)
        return out

    def projection(self, i, target):
        layer = self.decoder_layers[i]
        return getattr(layer.mlp if target in MLP_TARGETS else layer.self_attn, target)

    def run(self, tokens, caches, start, total):
        t = ops.shape(tokens)[1]  # None in a graph TensorFlow traced for any length
        # A gather, not a slice at `start`: XLA on TensorFlow compiles a slice whose start is
        # an argument once per value (37 s for 32 decoded tokens, tiny preset).
        positions = ops.arange(t, dtype="int32") + start
        cos = ops.take(self.cos_table, positions, axis=0)
        sin = ops.take(self.sin_table, positions, axis=0)
        # Query i (at position start + i) sees keys 0 … start + i.
        mask = ops.expand_dims(ops.arange(total, dtype="int32"), 0) <= \
            ops.expand_dims(positions, 1)
        h = ops.take(self.embed_tokens, ops.cast(tokens, "int32"), axis=0)
        new_caches = []
        for i, layer in enumerate(self.decoder_layers):
            h, cache = layer(h, cos=cos, sin=sin, mask=mask,
                             cache=None if caches is None else caches[i], start=start)
            new_caches.append(cache)
        h = self.norm(h)
        logits = ops.matmul(h, ops.transpose(self.embed_tokens)) if self.tied else self.lm_head(h)
        return ops.cast(logits, "float32"), new_caches

    def call(self, tokens):
        return self.run(tokens, None, 0, ops.shape(tokens)[1])[0]


class TorchAdamW(keras.optimizers.AdamW):
    """PyTorch's AdamW step, which the reference takes: ε is added to the bias-corrected √v̂.
    Keras adds it to √v, an ε 1/√(1 − β₂ᵗ) times larger (30x at step 1): lora_A's gradients are
    small in the first steps (B starts at 0), and every Keras backend left the parity gate's
    envelope at step 2 (|Δ loss| 2.1e-5, allowed 5.4e-6). Weight decay is Keras's, decoupled and
    applied before the step, as in PyTorch."""

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        g = ops.cast(gradient, dtype)
        t = ops.cast(self.iterations + 1, dtype)
        # 1 − βᵗ as −expm1(t·ln β): exact to float32 rounding, where 1 − β₂ᵗ in float32 loses
        # four digits for small t.
        correction1 = -ops.expm1(t * math.log(self.beta_1))
        correction2 = -ops.expm1(t * math.log(self.beta_2))
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(g, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(g), v), 1 - self.beta_2))
        denominator = ops.add(ops.divide(ops.sqrt(v), ops.sqrt(correction2)), self.epsilon)
        self.assign_sub(variable, ops.divide(ops.multiply(m, lr / correction1), denominator))


def matmul_for(n):
    """One fp32 n x n product for matmul_peak.measure in the backend's own library, as the
    layers reach it: tf.matmul (XLA's dot under jit_compile), a jitted JAX matmul (XLA), torch.mm.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        a, b = tf.fill([n, n], 0.5), tf.fill([n, n], 0.25)
        return lambda: tf.matmul(a, b).numpy()
    if backend == "jax":
        import jax
        import jax.numpy as jnp
        a, b = jnp.full((n, n), 0.5, jnp.float32), jnp.full((n, n), 0.25, jnp.float32)
        mm = jax.jit(jnp.matmul)
        return lambda: mm(a, b).block_until_ready()
    from . import torch_llm  # torch is Keras's backend here: loaded already
    return torch_llm.matmul_for(n)


class LlmPort:
    """The runner's LLM port interface (runner.run_llm_trial) on Keras 3."""
    framework = "keras"
    version = keras.__version__

    def __init__(self, spec, threads_of):
        self.spec = spec
        self.llm = spec["llm"]
        self.train = spec["task"] == "train"
        self.mode = spec["mode"]
        self.jit = jit_of(self.mode)
        # The first train step or generation traces (and with jit, compiles); torch runs eagerly.
        self.compiles = backend_of(self.mode) != "torch"
        self._threads_of = threads_of

    # --- the runner's thread and device set-up, shared with the image port -------------------
    @property
    def openmp_computes(self):
        return keras.backend.backend() == "torch"

    def set_threads(self, threads):
        return self._threads_of(threads)

    def check_supported(self, modes):
        s = self.spec
        if self.mode not in modes:
            raise Unsupported(f"keras3/{self.mode} does not run the llm_lora workload (modes that "
                              f"do: {', '.join(modes)})")
        if keras.backend.backend() != backend_of(self.mode):
            raise Unsupported(f"Keras was imported with backend {keras.backend.backend()}, the "
                              f"trial asks for {backend_of(self.mode)}")
        if s["precision"] != "fp32":
            raise Unsupported("the Keras LLM port runs fp32 only (supported: precision fp32)")
        if self.llm["lora_dropout"] > 0:
            raise Unsupported("the Keras LLM port runs lora_dropout = 0 only: dropout masks "
                              "differ between frameworks, so parity could not hold")

    def init(self):
        from .device import require_device
        keras.utils.set_random_seed(self.spec["seed"])
        require_device(self.spec, keras.backend.backend())

    def build(self):
        self.model = LlamaForCausalLM(read_config(self.spec["weights"]))
        self.model.config = self.model.hf_config  # what the runner reads (vocab_size)

    def load_weights(self):
        model, folder = self.model, self.spec["weights"]
        tensors = read_checkpoint(folder)
        load_strict(model.named_weights(), tensors, f"checkpoint '{folder}'")
        layers = model.hf_config["num_hidden_layers"]
        adapters = {}
        for i in range(layers):
            for target in self.llm["lora_targets"]:
                p = model.projection(i, target)
                p.add_adapter(self.llm["lora_rank"], self.llm["lora_alpha"])
                owner = "mlp" if target in MLP_TARGETS else "self_attn"
                name = f"model.layers.{i}.{owner}.{target}"
                adapters[name + ".lora_A.weight"] = (p.lora_a, True)
                adapters[name + ".lora_B.weight"] = (p.lora_b, True)
        path, tensors = read_adapter(self.llm["adapter_init"])
        load_strict(adapters, tensors, f"adapter '{path}'")
        self.adapters = adapters
        if self.train:
            o = self.spec["optimizer"]
            self.model.compile(
                optimizer=TorchAdamW(learning_rate=o["lr"], weight_decay=o["weight_decay"],
                                     beta_1=0.9, beta_2=0.999, epsilon=1e-8),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                jit_compile=self.jit)
        else:
            self._step = self._compiled_step()

    def _compiled_step(self):
        model, backend = self.model, keras.backend.backend()
        if backend == "tensorflow":
            return _TfStep(model, self.jit)
        if backend == "jax" and self.jit:
            return _JaxStep(model)
        return lambda tokens, caches, start, total: model.run(tokens, caches, start, total)

    def to_input(self, rows):
        # Runs before each timed step: train_on_batch reports its loss tracker's running mean,
        # so the tracker is reset here, outside the timed region, to make it this step's loss.
        if self.train:
            self.model.reset_metrics()
        return np.ascontiguousarray(rows.astype(np.int32))

    def compile(self, example):
        if self.train:
            # Traces and compiles the train step with one real step, then puts the adapters
            # and the optimizer's state (moments, iterations) back.
            optimizer = self.model.optimizer
            optimizer.build(self.model.trainable_variables)
            state = list(self.model.trainable_variables) + list(optimizer.variables)
            saved = [ops.convert_to_numpy(v) for v in state]
            # The runner passes the model's input ([:, :seq_len]); a training batch has one
            # more column, the last target: without it the step compiled here would be for
            # seq_len − 1 tokens, and step 0 would compile again inside the timed region.
            self.model.reset_metrics()
            self.train_step(np.concatenate([example, example[:, -1:]], axis=1))
            for v, value in zip(state, saved):
                v.assign(value)
        else:
            # One whole generation at the trial's shapes: prefill and decode compile here.
            prompt_len = min(self.llm["prompt_tokens"], example.shape[1])
            new_tokens = self.llm["decode_tokens"]
            self.generate(example[:, :prompt_len], new_tokens,
                          self.new_cache(example.shape[0], prompt_len + new_tokens), lambda: None)

    def make_optimizer(self):
        pass  # compiled with the model (load_weights)

    def train_step(self, batch):
        t = batch.shape[1] - 1
        if keras.backend.backend() == "torch":
            # Keras's torch trainer zeroes the gradients of the torch parameters it registered
            # when the layers were built; the adapters came later, and their gradients would
            # add up from step to step (training parity failed from step 2).
            for variable, _ in self.adapters.values():
                variable.value.grad = None
        return float(self.model.train_on_batch(batch[:, :t], batch[:, 1:]))

    def new_cache(self, batch, length):
        c = self.model.hf_config
        shape = (batch, c["num_key_value_heads"], length,
                 c["hidden_size"] // c["num_attention_heads"])
        return [(ops.zeros(shape, "float32"), ops.zeros(shape, "float32"))
                for _ in range(c["num_hidden_layers"])]

    def generate(self, prompt, new_tokens, cache, on_first_token):
        """Greedy decoding through the KV cache; returns the logits after the prompt."""
        if keras.backend.backend() == "torch":
            import torch
            # The adapters require gradients: without this every decoded token would extend an
            # autograd graph through the cache (Keras's own predict runs under no_grad too).
            with torch.no_grad():
                return self._generate(prompt, new_tokens, cache, on_first_token)
        return self._generate(prompt, new_tokens, cache, on_first_token)

    def _generate(self, prompt, new_tokens, cache, on_first_token):
        total = cache[0][0].shape[2]
        logits, cache = self._step(ops.convert_to_tensor(prompt), cache, 0, total)
        last = logits[:, -1]
        nxt = ops.expand_dims(ops.argmax(last, axis=-1), 1)
        ops.convert_to_numpy(nxt)  # waits for the device (JAX dispatches asynchronously)
        on_first_token()
        pos = prompt.shape[1]
        for _ in range(1, new_tokens):
            logits, cache = self._step(nxt, cache, pos, total)
            nxt = ops.expand_dims(ops.argmax(logits[:, 0], axis=-1), 1)
            pos += 1
        ops.convert_to_numpy(nxt)
        return last

    def sync(self):
        pass  # every step ends with a value on the host (the loss, the last token)

    def numpy(self, tensor):
        return np.asarray(ops.convert_to_numpy(tensor), dtype=np.float32)

    def save_adapter(self, folder):
        os.makedirs(folder, exist_ok=True)
        tensors = {PEFT_PREFIX + name: np.ascontiguousarray(ops.convert_to_numpy(v).T)
                   for name, (v, _) in self.adapters.items()}
        safetensors_np.write(os.path.join(folder, "adapter_model.safetensors"), tensors,
                             {"format": "pt"})
        with open(os.path.join(self.llm["adapter_init"], "adapter_config.json"),
                  encoding="utf-8") as f:
            config = json.load(f)
        with open(os.path.join(folder, "adapter_config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)


class _TfStep:
    """One forward step as a tf.function (XLA with jit): `start` is a tensor, so decoding
    traces once, not once per position."""

    def __init__(self, model, jit):
        import tensorflow as tf
        self.tf = tf
        self.fn = tf.function(lambda tokens, caches, start, total:
                              model.run(tokens, caches, start, total), jit_compile=jit)

    def __call__(self, tokens, caches, start, total):
        return self.fn(tokens, caches, self.tf.constant(start, self.tf.int32), total)


class _JaxStep:
    """One forward step under jax.jit, over the model's variables (Keras's stateless_call)."""

    def __init__(self, model):
        import jax
        self.model = model
        self.fn = jax.jit(self._forward, static_argnums=(4,))

    def _forward(self, trainable, non_trainable, tokens, caches, total, start):
        mapping = list(zip(self.model.trainable_variables, trainable)) + \
            list(zip(self.model.non_trainable_variables, non_trainable))
        with keras.StatelessScope(state_mapping=mapping):
            return self.model.run(tokens, caches, start, total)

    def __call__(self, tokens, caches, start, total):
        import jax.numpy as jnp
        m = self.model
        return self.fn([v.value for v in m.trainable_variables],
                       [v.value for v in m.non_trainable_variables], tokens, caches, total,
                       jnp.int32(start))


def load_strict(named, tensors, what):
    check_names(named, tensors, what)
    for name, (variable, transposed) in named.items():
        value = tensors[name].astype(np.float32)
        if transposed:
            value = value.T
        if tuple(value.shape) != tuple(variable.shape):
            shape = list(value.T.shape if transposed else value.shape)
            raise UsageError(f"{what}: tensor '{name}' has shape {shape}, the model expects "
                             f"{list(variable.shape[::-1] if transposed else variable.shape)}")
        variable.assign(np.ascontiguousarray(value))
