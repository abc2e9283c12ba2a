"""The LLM export portability matrix's Python side (docs/llm.md, "Export portability"): export
the merged model's generation *step* with each converter (`--llm-export REQUEST.json`), and run
an exported file in a Python runtime (`--llm-run REQUEST.json`), each answering one JSON line.

The step: (tokens int64 [B, T], keys/values float32 [L, B, Hkv, S, D], start int64 [1]) ->
(logits float32 [B, V] of the last position, keys_out, values_out): a fixed-size KV cache that
every runtime keeps between calls, so that a runtime prefills and decodes as a server would.
Greedy generation is the same loop in every runtime (generate below; the C++ and Node twins in
src/backends/inference/llm_step_run.cpp and workers/node/lib/llm_run.js)."""
import importlib
import json
import os
import time

import numpy as np

from . import safetensors_np
from .llama_files import read_config
from .protocol import error_line

# export name -> module whose export(request) answers it (each imports its framework itself)
EXPORTERS = {"onnx-dynamo": "torch_llm_export", "torchscript": "torch_llm_export",
             "aoti": "torch_llm_export", "savedmodel": "keras3_llm_export",
             "tf2onnx": "keras3_llm_export", "savedmodel-port": "keras3_llm_export",
             "tf2onnx-port": "keras3_llm_export"}
# runtime name -> module whose open_step(request) returns a Step
RUNTIMES = {"onnxruntime": "onnxruntime_llm_run", "tensorflow": "keras3_llm_export"}


def first_line(error):
    """The converter's or runtime's own first line, as every one-shot worker answer gives it
    (protocol.error_line), cut to a matrix row's width."""
    return error_line(error, limit=400)


def cache_shape(config, batch, cache_len):
    c = config
    return (c["num_hidden_layers"], batch, c["num_key_value_heads"], cache_len,
            c["hidden_size"] // c["num_attention_heads"])


class Step:
    """A loaded step function in a runtime's own tensor types. Subclasses set `runtime` and
    implement tokens(np int64 array) -> native, zeros(shape) -> native cache,
    start(int) -> native, __call__(tokens, keys, values, start) -> (logits, keys, values),
    argmax(logits) -> int (the only value that comes to the host per token), numpy(logits)."""
    runtime = ""


def generate(step, prompt, new_tokens, shape):
    """Greedy generation: a prefill step, then new_tokens - 1 decode steps, from zero caches.
    Returns (tokens, prefill logits as numpy, prefill seconds, decode seconds)."""
    p = prompt.shape[1]
    keys, values = step.zeros(shape), step.zeros(shape)
    x = step.tokens(prompt)
    t0 = time.perf_counter()
    logits, keys, values = step(x, keys, values, step.start(0))
    tok = step.argmax(logits)
    t1 = time.perf_counter()
    first = step.numpy(logits)  # for parity: in neither phase's time
    out = [tok]
    t_decode = time.perf_counter()
    for i in range(1, new_tokens):
        logits, keys, values = step(step.tokens(np.array([[tok]], dtype=np.int64)), keys, values,
                                    step.start(p + i - 1))
        tok = step.argmax(logits)
        out.append(tok)
    t2 = time.perf_counter()
    return out, first, t1 - t0, t2 - t_decode


def run(request, out):
    """--llm-run: load the exported file in the request's runtime, one untimed generation, then
    `repeats` timed ones; the answer carries the tokens, the prefill logits and the timings."""
    runtime = request.get("runtime", "")
    answer = {"ok": False, "runtime": runtime}
    try:
        module = importlib.import_module(f"{__package__}.{RUNTIMES[runtime]}")
    except KeyError:
        answer.update(stage="load", reason=f"unknown runtime '{runtime}' (have: "
                      f"{', '.join(RUNTIMES)})")
        return answer
    except Exception as e:  # noqa: BLE001 - a runtime that is not installed is a finding
        answer.update(stage="load", reason=first_line(e))
        return answer
    try:
        tensors, _ = safetensors_np.read(request["prompt"])
        prompt = tensors["tokens"].astype(np.int64)
        shape = cache_shape(read_config(os.path.dirname(request["config"])), prompt.shape[0],
                            request["cache_len"])
    except Exception as e:  # noqa: BLE001 - a request fwbench wrote wrong: say so, not crash
        answer.update(stage="request", reason=first_line(e))
        return answer
    t0 = time.perf_counter()
    try:
        step = module.open_step(request)
    except Exception as e:  # noqa: BLE001 - a file the runtime refuses is a finding
        answer.update(runtime=getattr(module, "RUNTIME", runtime), stage="load",
                      reason=first_line(e))
        return answer
    answer["runtime"] = step.runtime
    answer["load_s"] = time.perf_counter() - t0
    try:
        generate(step, prompt, request["new_tokens"], shape)  # warm-up, untimed
        answer["prefill_s"], answer["decode_s"] = [], []
        for r in range(max(1, request.get("repeats", 3))):
            tokens, logits, prefill_s, decode_s = generate(step, prompt, request["new_tokens"],
                                                           shape)
            if r == 0:
                answer["tokens"] = [int(t) for t in tokens]
                path = os.path.join(request["out"], "logits.safetensors")
                os.makedirs(request["out"], exist_ok=True)
                safetensors_np.write(path, {"logits": np.asarray(logits, dtype=np.float32)})
                answer["logits"] = path
            answer["prefill_s"].append(prefill_s)
            answer["decode_s"].append(decode_s)
    except Exception as e:  # noqa: BLE001 - a file that loads and then fails is a finding
        answer.update(stage="run", reason=first_line(e))
        return answer
    answer["ok"] = True
    return answer


def export(request):
    """--llm-export: one converter on the merged checkpoint; a converter's failure is an answer
    with its first line, not an error of fwbench."""
    name = request.get("export", "")
    if name not in EXPORTERS:
        return {"ok": False, "reason": f"unknown export '{name}' (have: {', '.join(EXPORTERS)})"}
    try:
        module = importlib.import_module(f"{__package__}.{EXPORTERS[name]}")
    except Exception as e:  # noqa: BLE001 - a framework that is not installed is a finding
        return {"ok": False, "reason": first_line(e)}
    return module.export(request)


def main(kind, request_path, out):
    with open(request_path, encoding="utf-8") as f:
        request = json.load(f)
    answer = run(request, out) if kind == "run" else export(request)
    out.write(json.dumps(answer) + "\n")
    out.flush()
    return 0
