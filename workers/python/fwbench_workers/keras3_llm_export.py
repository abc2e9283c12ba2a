"""The Keras 3 side of the LLM export portability matrix (llm_export.py): the step of the Keras
Llama port (keras3_llm.py) exported through Keras's own ExportArchive as a TensorFlow
SavedModel, that SavedModel converted to ONNX by tf2onnx, and the SavedModel run in TensorFlow.

The step calls the port's layers and weights. Its attention is the port's with three changes,
each for tf2onnx 1.17 (the comments at each say why): the cache is written with a scatter, not
ops.slice_update (XlaDynamicUpdateSlice in TensorFlow: tf2onnx has no handler for it), the
heads are split with the dims of the attention's input, and the mask fills a constant -inf.

The "-port" exports (savedmodel-port, tf2onnx-port) leave those out: their step runs the port's
own decoder layers (keras3_llm.DecoderLayer and Attention.call, ops.slice_update and all), so
that what tf2onnx makes of the port as it stands is a finding too."""
import os
import subprocess
import sys
import time

# Keras reads its backend once, at import: the SavedModel is TensorFlow's.
os.environ["KERAS_BACKEND"] = "tensorflow"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from . import llm_export  # noqa: E402
from .keras3_llm import LlamaForCausalLM, load_strict, rotate_half  # noqa: E402
from .llama_files import read_checkpoint, read_config  # noqa: E402
from .tensorflow_port import set_tensorflow_threads  # noqa: E402

RUNTIME = "tensorflow"
INPUTS = ("tokens", "keys", "values", "start")
OUTPUTS = ("logits", "keys_out", "values_out")
OPSET = 17
# What the step of "savedmodel" and "tf2onnx" changes in the port's attention; "-port": none.
CHANGES = [
    "cache written with a scatter, not ops.slice_update: tf2onnx 1.17 has no handler for "
    "XlaDynamicUpdateSlice (it logs an ERROR, exits 0 and leaves the TensorFlow op in the file)",
    "heads split with the attention input's B and T, not the projection's: tf2onnx 1.17 merges "
    "the reshapes wrongly and ONNX Runtime fails \"The input tensor cannot be reshaped\"",
    "mask fills a constant -inf scalar, not full_like(scores, -inf): tf2onnx 1.17 turns that "
    "where into mask·x + (1 − mask)·y, and 0·(−inf) makes the logits NaN",
]
SAVEDMODEL = f"Keras {keras.__version__} ExportArchive (TensorFlow {tf.__version__} SavedModel)"


def set_threads(threads):
    """Must run before TensorFlow's first op: the thread pools are made with the context."""
    set_tensorflow_threads(tf, threads)


def write_cache(cache, update, positions):
    """cache [B, Hkv, S, D] with update [B, Hkv, T, D] written at sequence positions [T]: a
    scatter (ScatterND in ONNX) at indices (b, h, position)."""
    shape = ops.shape(update)[:3]
    grid = [ops.broadcast_to(ops.reshape(ops.arange(shape[0], dtype="int32"), (-1, 1, 1)), shape),
            ops.broadcast_to(ops.reshape(ops.arange(shape[1], dtype="int32"), (1, -1, 1)), shape),
            ops.broadcast_to(ops.reshape(positions, (1, 1, -1)), shape)]
    return ops.scatter_update(cache, ops.stack(grid, axis=-1), update)


def attention(attn, x, cos, sin, mask, positions, cache_k, cache_v):
    """keras3_llm.Attention.call with the cache as an input and an output."""
    b, t = ops.shape(x)[0], ops.shape(x)[1]

    def split(y, heads):
        # B and T of x, not of y as Attention.split takes them: tf2onnx 1.17 turns a reshape
        # to y's own dims into [0, 0, heads, D] ("copy"), then merges it with the reshape
        # that ends the projection's tensordot, and the zeros then copy [B·T, hidden].
        return ops.transpose(ops.reshape(y, (b, t, heads, attn.head_dim)), (0, 2, 1, 3))

    q = split(attn.q_proj(x), attn.heads)
    k = split(attn.k_proj(x), attn.kv_heads)
    v = split(attn.v_proj(x), attn.kv_heads)
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    cache_k = write_cache(cache_k, k, positions)
    cache_v = write_cache(cache_v, v, positions)
    groups = attn.heads // attn.kv_heads
    keys = ops.repeat(cache_k, groups, axis=1) if groups > 1 else cache_k
    values = ops.repeat(cache_v, groups, axis=1) if groups > 1 else cache_v
    scores = ops.matmul(q, ops.transpose(keys, (0, 1, 3, 2))) * attn.scale
    # A constant -inf, not the port's full_like tensor: tf2onnx lowers a select whose inputs
    # it does not see to be infinite into mask·x + (1 − mask)·y, and 0·(−inf) is NaN.
    scores = ops.where(mask, scores, -np.inf)
    probs = ops.softmax(ops.cast(scores, "float32"), axis=-1)
    out = ops.matmul(probs, values)
    out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (b, t, attn.heads * attn.head_dim))
    return attn.o_proj(out), cache_k, cache_v


def step_function(model, port=False):
    """The exported step (llm_export.py's docstring) over the model's layers and weights; with
    `port`, each layer is the port's own DecoderLayer call (no CHANGES)."""

    def step(tokens, keys, values, start):
        positions = ops.arange(ops.shape(tokens)[1], dtype="int32") + ops.cast(start[0], "int32")
        cos = ops.take(model.cos_table, positions, axis=0)
        sin = ops.take(model.sin_table, positions, axis=0)
        # Query i (at position start + i) sees cache positions 0 … start + i.
        mask = ops.expand_dims(ops.arange(keys.shape[3], dtype="int32"), 0) <= \
            ops.expand_dims(positions, 1)
        h = ops.take(model.embed_tokens, ops.cast(tokens, "int32"), axis=0)
        keys_out, values_out = [], []
        for i, layer in enumerate(model.decoder_layers):
            if port:
                h, (k, v) = layer(h, cos=cos, sin=sin, mask=mask, cache=(keys[i], values[i]),
                                  start=ops.cast(start[0], "int32"))
            else:
                a, k, v = attention(layer.self_attn, layer.input_layernorm(h), cos, sin, mask,
                                    positions, keys[i], values[i])
                h = h + a
                h = h + layer.mlp(layer.post_attention_layernorm(h))
            keys_out.append(k)
            values_out.append(v)
        # The norm is per position: only the last one's logits are an output.
        last = model.norm(h[:, -1])
        logits = ops.matmul(last, ops.transpose(model.embed_tokens)) if model.tied \
            else model.lm_head(last)
        return {"logits": ops.cast(logits, "float32"), "keys_out": ops.stack(keys_out),
                "values_out": ops.stack(values_out)}

    return step


def export_savedmodel(request, port):
    set_threads(request["threads"])
    folder = request["checkpoint"]
    model = LlamaForCausalLM(read_config(folder))
    load_strict(model.named_weights(), read_checkpoint(folder), f"checkpoint '{folder}'")
    shape = llm_export.cache_shape(model.hf_config, None, request["cache_len"])
    t0 = time.perf_counter()
    try:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(name="step", fn=step_function(model, port), input_signature=[
            tf.TensorSpec((None, None), tf.int64, name="tokens"),
            tf.TensorSpec(shape, tf.float32, name="keys"),
            tf.TensorSpec(shape, tf.float32, name="values"),
            tf.TensorSpec((1,), tf.int64, name="start")])
        archive.write_out(request["file"], verbose=False)
    except Exception as e:  # noqa: BLE001 - a converter failure is a finding
        return {"ok": False, "converter": SAVEDMODEL, "reason": llm_export.first_line(e)}
    return {"ok": True, "file": request["file"], "converter": SAVEDMODEL,
            "seconds": time.perf_counter() - t0}


def tf2onnx_error(code, log):
    """tf2onnx's first ERROR line, else the log's last line (a traceback's exception) where it
    failed; None where it converted every op. It logs an unsupported op as an ERROR, leaves
    the TensorFlow op in the ONNX graph and says "Successfully converted", with status 0."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in lines:
        if " - ERROR - " in line:
            return line.split(" - ERROR - ", 1)[1][:400]
    if code == 0:
        return None
    return lines[-1][:400] if lines else f"tf2onnx exited with status {code} and no message"


def export_tf2onnx(request):
    import onnx
    import tf2onnx
    converter = f"tf2onnx {tf2onnx.__version__} (opset {OPSET})"
    # The CLI: tf2onnx 1.17's Python API has no from_saved_model.
    env = dict(os.environ, TF_NUM_INTRAOP_THREADS=str(request["threads"]),
               TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS=str(request["threads"]))
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "tf2onnx.convert", "--saved-model", request["savedmodel"],
         "--signature_def", "step", "--opset", str(OPSET), "--output", request["file"]],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, check=False)
    sys.stderr.write(done.stdout)
    error = tf2onnx_error(done.returncode, done.stdout)
    if error:
        # It may have written a file that still holds TensorFlow ops: no runtime should find it.
        if os.path.exists(request["file"]):
            os.remove(request["file"])
        return {"ok": False, "converter": converter, "reason": error}
    # tf2onnx names the inputs and outputs after the signature's, in its own (sorted) order.
    model = onnx.load(request["file"])
    for values, names in ((model.graph.input, INPUTS), (model.graph.output, OUTPUTS)):
        by_name = {v.name: v for v in values}
        if sorted(by_name) != sorted(names):
            return {"ok": False, "converter": converter, "reason": f"tf2onnx wrote the names "
                    f"{sorted(by_name)}, expected {list(names)}"}
        ordered = [by_name[n] for n in names]
        del values[:]
        values.extend(ordered)
    onnx.save(model, request["file"])
    return {"ok": True, "file": request["file"], "converter": converter,
            "seconds": time.perf_counter() - t0}


def export(request):
    port = request["export"].endswith("-port")
    if request["export"].startswith("tf2onnx"):
        answer = export_tf2onnx(request)
    else:
        answer = export_savedmodel(request, port)
    return dict(answer, changes=[] if port else CHANGES)


class TensorFlowStep(llm_export.Step):
    runtime = f"TensorFlow {tf.__version__} (SavedModel)"

    def __init__(self, path):
        # The loaded object owns the variables the step reads.
        self.saved = tf.saved_model.load(path)
        self.step = self.saved.step

    def tokens(self, array):
        return tf.constant(array, tf.int64)

    def zeros(self, shape):
        return tf.zeros(shape, tf.float32)

    def start(self, position):
        return tf.constant([position], tf.int64)

    def __call__(self, tokens, keys, values, start):
        out = self.step(tokens, keys, values, start)
        return tuple(out[n] for n in OUTPUTS)

    def argmax(self, logits):
        return int(tf.argmax(logits[0]).numpy())

    def numpy(self, logits):
        return logits.numpy()


def open_step(request):
    set_threads(request["threads"])
    return TensorFlowStep(request["file"])
