"""The input_pipeline task: a framework's own input pipeline (PyTorch DataLoader, tf.data, Grain
for JAX) on the same files with the same augmentation, its batches consumed by nothing (model_step
none) or by the port's real training step (model_step train).

Every loader delivers cifar.Batcher's batches (pipeline_common.py); each step is one next() on
the loader (and the training step). Around the step loop: the CPU time of the whole process tree
from the loader's start to its shutdown (its worker processes joined, so their time is this
process's children's), and the tree's peak memory while the workers live.
"""
import importlib
import math
import os
import resource
import time

import numpy as np

from . import cifar, pipeline_common, safetensors_np
from .protocol import Unsupported, UsageError, now

LOADERS = {"pytorch": ("dataloader", "pipeline_torch"), "tensorflow": ("tf.data", "pipeline_tf"),
           "jax": ("grain", "pipeline_grain")}
MODES = {"pytorch": "eager", "tensorflow": "xla", "jax": "jit"}


def loader_module(framework, spec):
    """The framework's own loader module, or Unsupported when the spec asks for another."""
    p = spec["pipeline"]
    if p["loader"] == "cpp":
        raise Unsupported("loader cpp is the C++ worker's; the Python worker runs dataloader "
                          "(pytorch), tf.data (tensorflow) and grain (jax)")
    if framework not in LOADERS:
        raise Unsupported(f"the {framework} port has no input pipeline (the input_pipeline task "
                          "runs pytorch/dataloader, tensorflow/tf.data and jax/grain)")
    loader, module = LOADERS[framework]
    if p["loader"] != loader:
        raise Unsupported(f"{framework} feeds its own loader, {loader}, not {p['loader']} (the "
                          "input_pipeline task measures each framework's own pipeline)")
    if spec["mode"] != MODES[framework]:
        raise Unsupported(f"the input_pipeline task runs {framework} in mode "
                          f"{MODES[framework]}, not {spec['mode']}")
    try:
        return importlib.import_module(f"{__package__}.{module}")
    except ImportError as e:
        raise Unsupported(f"{loader} cannot be imported: {e}") from e


def descendants(pid=None):
    """The live descendant processes of `pid` (this process), from /proc's children lists."""
    found, todo = [], [pid or os.getpid()]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{parent}/task/{tid}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return sorted(set(found))


def pss_bytes(pid):
    """A process's proportional set size now (smaps_rollup's Pss: a page shared by k processes
    counts 1/k in each), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_memory_bytes(tree):
    """The memory of this process and its loader processes: its own peak (VmHWM), or, when
    larger, the Pss of the whole tree now. Summing every process's VmHWM counted the pages a
    forked DataLoader worker shares with its parent once per worker (2.3 GB for 2 workers)."""
    return max(runner_peak_rss(), pss_bytes(os.getpid()) + sum(pss_bytes(pid) for pid in tree))


def runner_peak_rss():
    from .runner import peak_rss_bytes
    return peak_rss_bytes()


def cpu_seconds():
    """User + system time of this process (every thread, in ns: os.times() counts 10 ms ticks,
    more than a fast loader's whole trial) and of its joined children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def run_trial(framework, port_module, spec, events, t_main, import_span):
    """Runs one input_pipeline trial; raises on failure (runner.main reports it)."""
    from . import runner  # the runner imports this module: no cycle at import time
    p = spec["pipeline"]
    if p is None:
        raise UsageError("task input_pipeline needs the pipeline object")
    framework = port_module.Port.framework
    loader_mod = loader_module(framework, spec)
    import_span = (import_span[0], now())  # the loader's import counts with the port's
    train = p["model_step"] == "train"
    # The port trains when the step feeds it (a port's mode follows its spec's task).
    port = port_module.Port({**spec, "task": "train"})
    runner._hello(port, spec, events, t_main, import_span,
                  {"pipeline": {"loader": loader_mod.LOADER, "workers": p["workers"],
                                "source": p["source"], "model_step": p["model_step"],
                                "settings": loader_mod.settings(spec),
                                "recommended": loader_mod.RECOMMENDED}},
                  getattr(port_module, "PORT_FILES", [port_module.__file__]) +
                  [loader_mod.__file__], lambda: loader_mod.pools(spec))
    if train and not spec["weights"]:
        raise UsageError("model_step train needs the weights file (spec field weights)")
    runner._usage_if_missing(spec["weights"] if train else "",
                             "the weights file (spec field weights)")
    port.check_supported()
    phase = runner._Phases(events)
    if train:
        runner.build_model(port, spec, phase)
    source = phase("data", pipeline_common.read_source, spec)
    if train and port.compiles:
        phase("compile", port.compile, *_reference_batches(spec, source))

    cpu0 = cpu_seconds()
    loader = phase("loader", loader_mod.Loader, spec, source)
    try:
        steps, kept = _steps(spec, loader, port if train else None, events)
        tree = descendants()
        events.write("metric", name="peak_rss_bytes", value=tree_memory_bytes(tree),
                     unit="bytes")
        events.write("metric", name="loader_processes", value=len(tree), unit="count")
    finally:
        loader.close()
    events.write("metric", name="pipeline_cpu_s", value=cpu_seconds() - cpu0, unit="s")
    events.write("metric", name="pipeline_samples", value=steps * spec["batch_size"],
                 unit="samples")
    if kept:
        path = os.path.join(spec["output_dir"], "pipeline_batches.safetensors")
        safetensors_np.write(path, {"images": np.concatenate([x for x, _ in kept]),
                                    "labels": np.concatenate([y for _, y in kept])})
        events.write("output", name="pipeline_batches", path=path)
    events.write("done", t=now(), steps=steps)


FLUSH_NS = 100_000_000  # step events go out in stretches of 0.1 s, outside the steps' time


def _steps(spec, loader, port, events):
    """The step loop: one batch from the loader per step (and the training step); the first
    check_batches batches kept, copied outside the steps' time."""
    from .runner import budget_left
    steps, first_t0, kept, pending = 0, 0, [], []
    batch, check = spec["batch_size"], spec["pipeline"]["check_batches"]
    # Steps are back to back: a loader that fills ahead hands over a ready batch at once, so
    # only the time from one batch's arrival to the next measures its rate (with the
    # consumer's own work, training or a no-op, inside); t_input is the batch's arrival.
    t0 = last_flush = now()
    while True:
        elapsed = 0.0 if steps == 0 else (now() - first_t0) * 1e-9
        if not budget_left(spec["budget"], steps, elapsed):
            break
        if steps == 0:
            first_t0 = t0
        x, y = loader.next()
        t_input = now()
        loss = None
        if port is not None:
            loss = float(port.train_step(*port.to_input(x, y)))
        t1 = now()
        pending.append({"i": steps, "t0": t0, "t1": t1, "t_input": t_input, "samples": batch,
                        "loss": loss if loss is None or math.isfinite(loss) else None})
        t0 = t1
        # The first step at once (the progress line, the CPU watch's window), then in stretches.
        if steps == 0 or t1 - last_flush >= FLUSH_NS:
            events.write_many("step", pending)
            pending = []
            last_flush = t0 = now()
        if steps < check:
            kept.append((np.array(x, dtype=np.float32), np.array(y, dtype=np.int64)))
            t0 = now()  # a copy for the check, not the pipeline's work
        steps += 1
    if pending:
        events.write_many("step", pending)
    return steps, kept


def _reference_batches(spec, source):
    """The two batches a compiling port compiles with (outside the measured loop): Batcher's
    first two for CIFAR-10; for an image folder, whose decoding is the loader's work, zeros of
    the same shapes and dtypes (compilation depends on those only; the ports restore any state
    a compiling step changed)."""
    if source.images is not None:
        batcher = cifar.Batcher(source.images, source.labels, spec["batch_size"],
                                spec["data"]["augment"], spec["data"]["shuffle"], spec["seed"])
        return batcher.fill(0), batcher.fill(1)
    zeros = (np.zeros((spec["batch_size"], 3, 32, 32), dtype=np.float32),
             np.zeros(spec["batch_size"], dtype=np.int64))
    return zeros, zeros
