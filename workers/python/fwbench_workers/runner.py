"""The Python worker program: picks the framework's port, drives one trial through the
protocol (docs/protocol.md) and reports what happened. Everything that is not
framework-specific lives here: the set-up phases, the step loop with its budget, the thread
pools' set-up and read-back, the parity output. A port (``<name>_port.py``) provides a ``Port``
class with the framework's own work only, and imports protocol.py, never this module.
"""
import importlib
import json
import math
import os
import resource
import shutil
import sys
import traceback

import numpy as np

from . import cifar, ddp, safetensors_np
from .protocol import (VERSION, EventWriter, Unsupported, UsageError, error_line,  # noqa: F401
                       now, pool, read_spec, thread_hygiene)


def budget_left(budget, steps, elapsed_s):
    if budget["max_steps"] > 0 and steps >= budget["max_steps"]:
        return False
    if elapsed_s >= budget["max_seconds"]:
        return False
    return steps < budget["min_steps"] or elapsed_s < budget["min_seconds"]


def peak_rss_bytes():
    """This process's own peak memory: VmHWM. ru_maxrss on Linux starts at what the parent
    (fwbench) held when it exec'd this worker, so a small model reads as fwbench's size."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _Phases:
    def __init__(self, events):
        self.events = events

    def __call__(self, name, fn, *args):
        t0 = now()
        result = fn(*args)
        self.events.write("phase", name=name, t0=t0, t1=now())
        return result


def run_trial(framework, spec, events, t_main, import_span):
    """Runs one trial of `framework`'s port; raises on failure (main() reports it)."""
    port_module = sys.modules[f"{__package__}.{framework}_port"]
    if spec["task"] == "input_pipeline":
        from . import input_pipeline
        return input_pipeline.run_trial(framework, port_module, spec, events, t_main,
                                        import_span)
    if spec["workload"] == "llm_lora":
        if not hasattr(port_module, "LlmPort"):
            raise Unsupported(f"the {framework} port does not implement the llm_lora workload")
        return run_llm_trial(port_module, spec, events, t_main, import_span)
    if spec["workload"] == "user_model":
        if not hasattr(port_module, "ModelPort"):
            raise Unsupported(f"the {framework} port does not run user models")
        return run_user_model_trial(port_module, spec, events, t_main, import_span)
    port = port_module.Port(spec)
    # Data-parallel: this rank trains on its slice of each global batch of batch x processes
    # samples; the port averages the gradients over the ranks before every update.
    peers = ddp.Peers(spec) if spec["task"] == "train_ddp" else None
    extra = {"precision": spec["precision"], "memory_format": spec["memory_format"]}
    if peers is not None:
        extra["ddp"] = peers.hello(getattr(port_module, "DDP_COLLECTIVES", ""))
    _hello(port, spec, events, t_main, import_span, extra,
           getattr(port_module, "PORT_FILES", [port_module.__file__]))
    ddp_modes = getattr(port_module, "DDP_MODES", ())
    if peers is not None and spec["mode"] not in ddp_modes:
        raise Unsupported(f"the {framework} port does not run train_ddp in mode {spec['mode']} "
                          f"(it does in: {', '.join(ddp_modes) or 'none'})")
    _usage_if_missing(spec["weights"], "the weights file (spec field weights)")
    _usage_if_missing(spec["onnx_model"], "the ONNX model (spec field onnx_model)")
    port.check_supported()
    phase = _Phases(events)
    train = spec["task"] in ("train", "train_ddp")
    world, first = (peers.world, peers.rank * spec["batch_size"]) if peers else (1, 0)
    if peers is not None:
        # Every rank meets first: TensorFlow's collectives must be configured before its
        # runtime starts.
        phase("rendezvous", port.init_ddp, peers)
    build_model(port, spec, phase)

    def data():
        images, labels = cifar.read_split(spec["data"]["dir"], "train" if train else "test")
        return cifar.Batcher(images, labels, spec["batch_size"] * world,
                             augment=spec["data"]["augment"] and train,
                             shuffle=spec["data"]["shuffle"] and train, seed=spec["seed"])
    batcher = phase("data", data)
    def fill(step):
        x, y = batcher.fill(step)
        return (x, y) if world == 1 else (x[first:first + spec["batch_size"]],
                                          y[first:first + spec["batch_size"]])
    if port.compiles:
        phase("compile", port.compile, fill(0), fill(1))

    steps, first_t0 = 0, 0
    while True:
        elapsed = 0.0 if steps == 0 else (now() - first_t0) * 1e-9
        if not budget_left(spec["budget"], steps, elapsed):
            break
        x, y = port.to_input(*fill(steps))  # outside the timed region
        t0 = now()
        if steps == 0:
            first_t0 = t0
        if train:
            loss = port.train_step(x, y)
            t1 = now()
            loss = float(loss)
            # A diverged loss is reported as null (as the C++ and Node workers do), not a crash.
            events.write("step", i=steps, t0=t0, t1=t1, samples=spec["batch_size"] * world,
                         loss=loss if math.isfinite(loss) else None)
        else:
            port.infer_step(x)
            events.write("step", i=steps, t0=t0, t1=now(), samples=spec["batch_size"], loss=None)
        steps += 1

    events.write("metric", name="peak_rss_bytes", value=peak_rss_bytes(), unit="bytes")
    if not train and spec["parity_batch"] > 0:
        n = min(spec["parity_batch"], batcher.n)
        inputs, _ = batcher.fixed(range(n))
        logits = parity_logits(port, inputs, spec["batch_size"])
        path = os.path.join(spec["output_dir"], "logits.safetensors")
        safetensors_np.write(path, {"logits": logits, "inputs": inputs})
        events.write("output", name="logits", path=path)
    if spec["save_model"] and not train:
        for name, path in port.save_model(spec["output_dir"]):
            events.write("output", name=name, path=path)
    events.write("done", t=now(), steps=steps)


def build_model(port, spec, phase):
    """The phases init, build and load_weights (the spec's weights file) of an image port."""
    phase("init", port.init)
    phase("build", port.build)

    def load():
        tensors, _ = safetensors_np.read(spec["weights"])
        port.load_weights(tensors)
    phase("load_weights", load)


def parity_logits(port, inputs, batch):
    """The parity images' logits from forward passes at the timed batch size, the last chunk
    padded with copies of its first image (inference rows are independent): a compiling port's
    logits then come from the very graph it timed, not from one compiled again for the parity
    batch's shape (which also cost a cold torch.compile b1 trial 8 s)."""
    chunks = []
    for start in range(0, len(inputs), batch):
        chunk = inputs[start:start + batch]
        real = len(chunk)
        if real < batch:
            chunk = np.concatenate([chunk, np.repeat(chunk[:1], batch - real, axis=0)])
        chunks.append(np.asarray(port.logits(chunk), dtype=np.float32)[:real])
    return np.concatenate(chunks)


def _thread_controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError as e:
        raise UsageError(f"threadpoolctl is not installed for {sys.executable}: the trial cannot "
                         "read back its BLAS and OpenMP thread pools (pip install "
                         "threadpoolctl, or run ./scripts/install-deps.sh)") from e
    return ThreadpoolController()


def _native_computes(lib, port):
    """Whether a loaded BLAS/OpenMP runtime is the port's compute pool: PyTorch's intra-op pool is
    its OpenMP team (MKL runs on it), and a PyTorch without MKL (Debian's) does its GEMMs in the
    process's OpenBLAS, which must then hold the trial's threads, not 1."""
    if not getattr(port, "openmp_computes", False):
        return False
    if lib.user_api == "openmp" or lib.internal_api == "mkl":
        return True
    if lib.internal_api != "openblas":
        return False
    from .torch_setup import torch_has_mkl  # openmp_computes: a PyTorch port
    return not torch_has_mkl()


def configure_threads(port, spec):
    """One compute pool of the spec's threads, every other pool at 1, set before anything runs:
    the pools to pin first (an OpenMP-built OpenBLAS resets OpenMP's count when pinned), then the
    compute pools, then every read-back, for hello (the orchestrator refuses a mismatch).
    FWBENCH_THREAD_HYGIENE=off: the port sets its framework's pools as fwbench always did and
    the BLAS/OpenMP runtimes keep their defaults, reported as set to what they hold."""
    n = spec["threads"]
    libs = _thread_controller().lib_controllers
    hygiene = thread_hygiene()
    computes = [_native_computes(lib, port) for lib in libs]
    if hygiene:
        for lib, compute in zip(libs, computes):
            if not compute:
                lib.set_num_threads(1)
    pools = port.set_threads(n)
    if hygiene:
        for lib, compute in zip(libs, computes):
            if compute:
                lib.set_num_threads(n)
    for lib, compute in zip(libs, computes):
        read = lib.num_threads
        want = n if compute else 1
        pools.append(pool(f"{lib.internal_api} ({os.path.basename(lib.filepath)})",
                          "compute" if compute else "pinned", want if hygiene else read, read))
    return pools


def _hello(port, spec, events, t_main, import_span, extra, port_files, loader_pools=None):
    """The hello event (with the port's files, for the boilerplate metric), the import phase, and
    the threads phase: setting and reading back the pools, which hello reports, comes first.
    loader_pools: a function giving the input_pipeline task's loader pool (role loader)."""
    t0 = now()
    pools = configure_threads(port, spec)
    if loader_pools is not None:
        pools += loader_pools()
    t1 = now()
    events.write("hello", protocol_version=VERSION, t=now(), t_main=t_main, pid=os.getpid(),
                 framework=port.framework, framework_version=port.version,
                 backend=spec["backend"], mode=spec["mode"], device=spec["device"],
                 threads=spec["threads"], thread_pools=pools,
                 extra={**extra, "port_files": [os.path.abspath(f) for f in port_files]})
    events.write("phase", name="import", t0=import_span[0], t1=import_span[1])
    events.write("phase", name="threads", t0=t0, t1=t1)


def run_llm_trial(port_module, spec, events, t_main, import_span):
    """The LLM LoRA workload: the same batches (rows of the shared token file, in order, wrapping
    around) and the same step events as the C++ trial (src/backends/libtorch_llm_trial.cpp)."""
    port = port_module.LlmPort(spec)
    _hello(port, spec, events, t_main, import_span,
           {"workload": "llm_lora", "precision": spec["precision"]},
           getattr(port_module, "LLM_PORT_FILES", [port_module.__file__]))
    llm = spec["llm"]
    port.check_supported()
    train = spec["task"] == "train"
    phase = _Phases(events)
    phase("init", port.init)
    phase("build", port.build)
    phase("load_weights", port.load_weights)

    def data():
        tensors, meta = safetensors_np.read(llm["tokens"])
        tokens = tensors.get("tokens")
        if tokens is None or tokens.ndim != 2 or tokens.dtype != np.int32:
            raise UsageError(f"{llm['tokens']}: expected a tensor \"tokens\" of I32 [sequences, "
                             "seq_len + 1]")
        vocab = port.model.config["vocab_size"]
        if tokens.size and (tokens.min() < 0 or tokens.max() >= vocab):
            raise UsageError(f"{llm['tokens']}: token ids outside the model's vocabulary [0, "
                             f"{vocab})")
        return tokens
    tokens = phase("data", data)
    count, seq_len = tokens.shape[0], tokens.shape[1] - 1
    batch = spec["batch_size"]

    def rows(first, n):
        return tokens[[(first + r) % count for r in range(n)]]
    if port.compiles:
        phase("compile", port.compile, port.to_input(rows(0, batch))[:, :seq_len])
    if train:
        port.make_optimizer()
    prompt_len = min(llm["prompt_tokens"], seq_len)
    new_tokens = llm["decode_tokens"]
    cache = None if train else port.new_cache(batch, prompt_len + new_tokens)

    steps, first_t0 = 0, 0
    while True:
        elapsed = 0.0 if steps == 0 else (now() - first_t0) * 1e-9
        if not budget_left(spec["budget"], steps, elapsed):
            break
        x = port.to_input(rows(steps * batch, batch))  # outside the timed region
        port.sync()
        t0 = now()
        if steps == 0:
            first_t0 = t0
        if train:
            loss = float(port.train_step(x))
            port.sync()
            events.write("step", i=steps, t0=t0, t1=now(), samples=batch,
                         loss=loss if math.isfinite(loss) else None, tokens=batch * seq_len)
        else:
            first = []
            port.generate(x[:, :prompt_len], new_tokens, cache, lambda: first.append(now()))
            port.sync()
            events.write("step", i=steps, t0=t0, t1=now(), samples=batch, loss=None,
                         tokens=batch * new_tokens, prompt_tokens=batch * prompt_len,
                         t_first_token=first[0])
        steps += 1

    events.write("metric", name="peak_rss_bytes", value=peak_rss_bytes(), unit="bytes")
    if not train and spec["parity_batch"] > 0:
        n = min(spec["parity_batch"], count)
        prompts = port.to_input(rows(0, n))[:, :prompt_len]
        last = port.generate(prompts, 1, port.new_cache(n, prompt_len + 1), lambda: None)
        path = os.path.join(spec["output_dir"], "logits.safetensors")
        safetensors_np.write(path, {"logits": port.numpy(last),
                                    "inputs": port.numpy(prompts)})
        events.write("output", name="logits", path=path)
    if train and spec["save_model"]:
        folder = os.path.join(spec["output_dir"], "adapter")
        port.save_adapter(folder)
        events.write("output", name="adapter", path=folder)
    events.write("done", t=now(), steps=steps)


def run_user_model_trial(port_module, spec, events, t_main, import_span):
    """The user's own model (docs/your-model.md): every step feeds the next `batch_size` rows of
    the shared input file (the same rows, in the same order, for every backend) and runs the
    model; the parity output is its first output on the first parity_batch rows."""
    um = spec["user_model"]
    port = port_module.ModelPort(spec)
    _hello(port, spec, events, t_main, import_span,
           {"workload": "user_model", "format": um["format"], "precision": spec["precision"]},
           getattr(port_module, "PORT_FILES", [port_module.__file__]))
    _usage_if_missing(um["file"] if um["format"] != "savedmodel" else "", "the model file")
    _usage_if_missing(um["inputs_file"], "the input rows (spec field user_model.inputs_file)")
    port.check_supported()
    phase = _Phases(events)
    phase("init", port.init)
    phase("build", port.build)

    def data():
        tensors, _ = safetensors_np.read(um["inputs_file"])
        rows = None
        for i in um["inputs"]:
            t = tensors.get(i["name"])
            if t is None or list(t.shape[1:]) != list(i["shape"]) or str(t.dtype) != i["dtype"]:
                raise UsageError(f"{um['inputs_file']}: expected a tensor \"{i['name']}\" of "
                                 f"{i['dtype']} [rows, {', '.join(map(str, i['shape']))}]")
            rows = t.shape[0] if rows is None else min(rows, t.shape[0])
        if not rows:
            raise UsageError(f"{um['inputs_file']}: no input rows")
        return {i["name"]: tensors[i["name"]] for i in um["inputs"]}, rows
    (arrays, count) = phase("data", data)
    batch = spec["batch_size"]

    def feeds(first, n):
        index = [(first + r) % count for r in range(n)]
        return {name: np.ascontiguousarray(a[index]) for name, a in arrays.items()}
    if port.compiles:
        phase("compile", port.compile, port.to_feeds(feeds(0, batch)))

    steps, first_t0 = 0, 0
    while True:
        elapsed = 0.0 if steps == 0 else (now() - first_t0) * 1e-9
        if not budget_left(spec["budget"], steps, elapsed):
            break
        x = port.to_feeds(feeds(steps * batch, batch))  # outside the timed region
        t0 = now()
        if steps == 0:
            first_t0 = t0
        port.infer_step(x)
        events.write("step", i=steps, t0=t0, t1=now(), samples=batch, loss=None)
        steps += 1

    events.write("metric", name="peak_rss_bytes", value=peak_rss_bytes(), unit="bytes")
    if spec["parity_batch"] > 0:
        n = min(spec["parity_batch"], count)
        chunks = []
        for start in range(0, n, batch):  # at the timed batch size, as parity_logits does
            real = min(batch, n - start)
            out = np.asarray(port.first_output(port.to_feeds(feeds(start, batch))))
            chunks.append(out.reshape(batch, -1)[:real].astype(np.float32))
        first = um["inputs"][0]["name"]
        path = os.path.join(spec["output_dir"], "logits.safetensors")
        safetensors_np.write(path, {
            "logits": np.concatenate(chunks),
            "inputs": np.ascontiguousarray(arrays[first][:n].reshape(n, -1).astype(np.float32))})
        events.write("output", name="logits", path=path)
    events.write("done", t=now(), steps=steps)


def describe_model(framework, path, out, import_path=""):
    """One JSON line: the model's inputs and outputs as `framework` reads them (name, dtype,
    shape with a dynamic dimension as its name or null), or why it cannot. `path` is a file, or
    a PyTorch module's "pkg.mod:factory" imported from `import_path`."""
    try:
        module = _import_port(framework)
        if not hasattr(module, "describe_model"):
            raise Unsupported(f"the {framework} port does not describe models")
        answer = {"ok": True, **(module.describe_model(path, import_path) if import_path
                                 else module.describe_model(path))}
    except Exception as e:  # noqa: BLE001 - the orchestrator reports whatever went wrong
        answer = {"ok": False, "reason": str(e).splitlines()[0] if str(e) else repr(e)}
    out.write(json.dumps(answer) + "\n")
    out.flush()
    return 0


def _answer(out, compute):
    """One JSON line on `out`: {"ok": true, **compute()}, or ok false with the error's line (a
    conversion's or probe's failure is the orchestrator's to report, not a crash)."""
    try:
        answer = {"ok": True, **compute()}
    except Exception as e:  # noqa: BLE001 - the orchestrator reports whatever went wrong
        answer = {"ok": False, "reason": error_line(e)}
    out.write(json.dumps(answer) + "\n")
    out.flush()
    return 0


def convert_model(framework, request_path, out):
    """One JSON line: the converted file and the converter with its version, or the converter's
    own message when it fails (a finding about portability, not an error of fwbench)."""
    def convert():
        with open(request_path) as f:
            request = json.load(f)
        # A port that configures its framework at import (Keras's backend) reads the mode.
        if request.get("mode"):
            os.environ["FWBENCH_MODE"] = request["mode"]
        module = _import_port(framework)
        if not hasattr(module, "convert_model"):
            raise Unsupported(f"the {framework} port converts no models")
        return module.convert_model(request)
    return _answer(out, convert)


def matmul_peak_probe(framework, mode, threads, out):
    """One JSON line: the port's framework's fp32 matmul peak on `threads` in `mode`'s library,
    and the modes that share that library (the orchestrator probes each library once; without
    an answer it falls back to LibTorch's peak)."""
    def probe_peak():
        os.environ["FWBENCH_MODE"] = mode
        os.environ["FWBENCH_THREADS"] = threads
        module = _import_port(framework)
        if not hasattr(module, "matmul_peak_probe"):
            raise Unsupported(f"the {framework} port has no matmul peak probe")
        return module.matmul_peak_probe(mode, int(threads))
    return _answer(out, probe_peak)


def dx_onnx_file(path, out):
    """One JSON line: the dx model written as an ONNX file, which the runtimes' dx ports load."""
    def write():
        from . import dx_onnx
        dx_onnx.write_model(path)
        return {"file": path}
    return _answer(out, write)


FRAMEWORKS = ("torch", "tensorflow", "keras3", "jax", "onnxruntime", "openvino", "opencv")


def _import_port(framework):
    try:
        return importlib.import_module(f"{__package__}.{framework}_port")
    except ModuleNotFoundError as e:
        if e.name == f"{__package__}.{framework}_port":
            raise UsageError(f"unknown framework '{framework}' (have: {', '.join(FRAMEWORKS)})") \
                from e
        raise Unsupported(f"{framework} is not installed for {sys.executable}: {e}") from e


def _usage_if_missing(path, what):
    if path and not os.path.isfile(path):
        raise UsageError(f"{path}: {what} does not exist or is not a file")


def probe(framework, out):
    """One JSON line: can this interpreter run `framework`, which version, which modes."""
    try:
        module = _import_port(framework)
        _thread_controller()  # every trial reads its pools back with it
        answer = {"available": True, "framework": module.Port.framework,
                  "version": module.Port.version, "modes": module.probe_modes(),
                  "python_version": sys.version.split()[0],
                  "precisions": list(getattr(module, "PRECISIONS", ("fp32",))),
                  "memory_formats": list(getattr(module, "MEMORY_FORMATS", ("contiguous",))),
                  "port_file": os.path.abspath(module.__file__),
                  "workloads": ["image_classification"] +
                               (["llm_lora"] if hasattr(module, "LlmPort") else []) +
                               (["user_model"] if hasattr(module, "ModelPort") else []),
                  "model_formats": list(getattr(module, "MODEL_FORMATS", ())),
                  "ddp_modes": list(getattr(module, "DDP_MODES", ())),
                  "model_format_modes": {f: list(m) for f, m in
                                         getattr(module, "MODEL_FORMAT_MODES", {}).items()},
                  "workload_modes": {**({"llm_lora": list(module.LLM_MODES)}
                                        if hasattr(module, "LLM_MODES") else {}),
                                     **({"user_model": list(module.MODEL_MODES)}
                                        if hasattr(module, "MODEL_MODES") else {})},
                  "workload_port_files": ({"llm_lora": [os.path.abspath(f) for f in
                                                        module.LLM_PORT_FILES]}
                                          if hasattr(module, "LLM_PORT_FILES") else {}),
                  "port_files": [os.path.abspath(f) for f in
                                 getattr(module, "PORT_FILES", [module.__file__])]}
    except Exception as e:  # noqa: BLE001 - a probe answers, whatever the failure
        answer = {"available": False, "reason": str(e).splitlines()[0] if str(e) else repr(e)}
    out.write(json.dumps(answer) + "\n")
    out.flush()
    return 0


USAGE = f"""usage: fwbench_worker.py FRAMEWORK SPEC.json     run one trial (docs/protocol.md)
       fwbench_worker.py --probe FRAMEWORK         what this interpreter can run (JSON)
       fwbench_worker.py --describe-model FRAMEWORK MODEL [IMPORT_PATH]  a model's inputs (JSON)
       fwbench_worker.py --convert-model FRAMEWORK REQUEST.json  convert a user's model (JSON)
       fwbench_worker.py --export-onnx ARCH STEM NUM_CLASSES WEIGHTS OUT.onnx [raw]
       fwbench_worker.py --dx FRAMEWORK REQUEST.json  one injected fault (fwbench dx, docs/dx.md)
       fwbench_worker.py --dx-onnx OUT.onnx        the dx model as an ONNX file (JSON)
       fwbench_worker.py --export-aoti ARCH STEM NUM_CLASSES WEIGHTS OUT.pt2 THREADS
       fwbench_worker.py --matmul-peak FRAMEWORK MODE THREADS  the framework's fp32 matmul peak
       fwbench_worker.py --llm-export REQUEST.json  export the LLM step (fwbench llm-export)
       fwbench_worker.py --llm-run REQUEST.json     run an exported LLM step (fwbench llm-export)
frameworks: {', '.join(FRAMEWORKS)}"""


def exit_now(code):
    """Ends the worker without interpreter teardown. Every event is flushed as it is written;
    teardown (about a second for torch or TensorFlow: 43 s of a 5 min 56 s default run with 44
    Python trials) is part of no measurement, so the process ends as `fwbench trial` does with
    _Exit."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv, t_main):
    # The protocol owns stdout. Framework libraries print at times, from Python or from native
    # code writing to fd 1: events go to a private duplicate of fd 1, and fd 1 itself (and
    # sys.stdout) now lead to stderr, the trial's stderr.log.
    sys.stdout.flush()
    real_stdout = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    events = EventWriter(real_stdout)
    if len(argv) == 3 and argv[1] == "--probe":
        return probe(argv[2], real_stdout)
    if len(argv) in (4, 5) and argv[1] == "--describe-model":
        return describe_model(argv[2], argv[3], real_stdout, *argv[4:])
    if len(argv) == 4 and argv[1] == "--convert-model":
        return convert_model(argv[2], argv[3], real_stdout)
    if len(argv) in (7, 8) and argv[1] == "--export-onnx":
        from . import onnx_export
        return onnx_export.main(argv[2:], real_stdout)
    if len(argv) == 8 and argv[1] == "--export-aoti":
        from . import aoti_export
        return aoti_export.main(argv[2:], real_stdout)
    if len(argv) == 5 and argv[1] == "--matmul-peak":
        return matmul_peak_probe(argv[2], argv[3], argv[4], real_stdout)
    if len(argv) == 3 and argv[1] in ("--llm-export", "--llm-run"):
        from . import llm_export
        return llm_export.main(argv[1][len("--llm-"):], argv[2], real_stdout)
    if len(argv) == 3 and argv[1] == "--dx-onnx":
        return dx_onnx_file(argv[2], real_stdout)
    if len(argv) == 4 and argv[1] == "--dx":
        from . import dx
        try:
            return dx.run(argv[2], argv[3], events)
        except UsageError as e:
            events.write("error", kind="usage", message=str(e))
            return 2
        except Exception as e:  # noqa: BLE001 - outside the fault: the port could not run it
            traceback.print_exc(file=sys.stderr)
            events.write("error", kind="runtime", message=f"{type(e).__name__}: {e}")
            return 1
    if len(argv) != 3 or argv[1].startswith("-"):
        print(USAGE, file=sys.stderr)
        return 0 if argv[1:] in (["-h"], ["--help"]) else 2
    framework, spec_path = argv[1], argv[2]
    try:
        spec = read_spec(spec_path)
        # Ports that must configure their framework before importing it read these.
        os.environ["FWBENCH_MODE"] = spec["mode"]
        os.environ["FWBENCH_THREADS"] = str(spec["threads"])
        # Inductor (torch.compile, Keras on torch) compiles in worker processes, by default as
        # many as there are cores: no more than the trial's threads. It caches compiled graphs
        # across processes (in /tmp by default), which made every trial after a
        # configuration's first a warm-cache compile, unlike XLA, JAX and TorchScript, which
        # start cold: each trial gets an empty cache of its own (docs/workers.md).
        os.environ["TORCHINDUCTOR_COMPILE_THREADS"] = str(spec["threads"])
        inductor_cache = os.path.join(os.path.abspath(spec["output_dir"]), "inductor-cache")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = inductor_cache
        t0 = now()
        try:
            _import_port(framework)
            run_trial(framework, spec, events, t_main, (t0, now()))
        finally:
            shutil.rmtree(inductor_cache, ignore_errors=True)
        return 0
    except (UsageError, cifar.DataError, safetensors_np.SafetensorsError) as e:
        events.write("error", kind="usage", message=str(e))
        return 2
    except Unsupported as e:
        events.write("error", kind="unsupported", message=str(e))
        return 1
    except MemoryError as e:
        events.write("error", kind="oom", message=f"out of memory: {e}")
        return 1
    except Exception as e:  # noqa: BLE001 - every failure must reach the orchestrator
        traceback.print_exc(file=sys.stderr)
        events.write("error", kind="runtime", message=f"{type(e).__name__}: {e}")
        return 1
