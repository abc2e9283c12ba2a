"""Developer experience (`fwbench dx`, docs/dx.md): one injected fault, run by one framework's
dx port (``dx_<framework>.py``) in a fresh process, and how the framework told us about it.

Every port builds the same small model in its framework's own idiom, a two-layer MLP whose
layers are named ``hidden`` (3072 -> 64, ReLU) and ``classifier`` (64 -> 10), with the weights
and the 64 samples below (a formula, so every language makes the same numbers without a file),
and trains it with plain SGD on the mean softmax cross-entropy, batch 16. A fault function
either raises what the framework raised (outcome ``error``), or ends (``silent``, with a note),
or its loss stops being finite, which this loop's own check reports (``loop``).

What the user would see is kept as they would see it: during the fault, file descriptors 1 and
2 lead to the case's error file, so whatever the framework prints (its warnings, its native
logs) lands there, followed by the traceback as Python's default hook prints it. fwbench (C++)
reads that file and measures it; this module only reports what happened, on the protocol's
private stdout: ``dx_hello``, ``dx_start``, ``dx_step`` per completed step, ``dx_end`` (for an
error, with the byte offset in the error file where the error's own text starts).
"""
import contextlib
import ctypes
import importlib
import json
import math
import os
import sys
import traceback

import numpy as np

from .protocol import UsageError, now

FAULTS = ("shape_mismatch", "exploding_loss", "exploding_loss_checked", "bad_batch",
          "wrong_dtype", "export_unsupported")
FRAMEWORKS = ("torch", "tensorflow", "keras3", "jax", "onnxruntime", "openvino", "opencv")

SAMPLES, FEATURES, HIDDEN, CLASSES, BATCH = 64, 3072, 64, 10, 16
LR = 0.05
EXPLODING_LR = LR * 1e4
MAX_STEPS = 100          # the exploding-loss faults give up after this many steps
WRONG_IN_FEATURES = 60   # shape_mismatch: classifier built for 60 inputs, fed hidden's 64
BAD_SAMPLE = 37          # bad_batch: this sample (in the third batch) has BAD_FEATURES values
BAD_FEATURES = 3071


def weights():
    """{name: array} in PyTorch's layout ([out, in]); biases zero."""
    o, i = np.meshgrid(np.arange(HIDDEN), np.arange(FEATURES), indexing="ij")
    hidden = (0.02 * np.sin(0.37 * o + 0.11 * i + 1.0)).astype(np.float32)
    o, i = np.meshgrid(np.arange(CLASSES), np.arange(HIDDEN), indexing="ij")
    classifier = (0.1 * np.cos(0.23 * o + 0.51 * i)).astype(np.float32)
    return {"hidden.weight": hidden, "hidden.bias": np.zeros(HIDDEN, np.float32),
            "classifier.weight": classifier, "classifier.bias": np.zeros(CLASSES, np.float32)}


def sample(n, features=FEATURES):
    k = np.arange(features, dtype=np.float64)
    return (0.5 * np.sin(0.013 * (n * FEATURES + k) + 0.7)).astype(np.float32)


def label(n):
    return n % CLASSES


def batch_indices(step):
    return [(step * BATCH + j) % SAMPLES for j in range(BATCH)]


def batch(step):
    """(x [16, 3072] float32, y [16] int64) of `step`."""
    idx = batch_indices(step)
    return np.stack([sample(n) for n in idx]), np.array([label(n) for n in idx], np.int64)


def batches(to=lambda a: a):
    """Every step's batch, forever, each array converted by `to` (a framework's tensor)."""
    step = 0
    while True:
        x, y = batch(step)
        yield to(x), to(y)
        step += 1


def raw_pixels(x):
    """wrong_dtype: the 0-255 uint8 pixels a user forgot to convert and scale."""
    return np.round((x + 0.5) * 255.0).astype(np.uint8)


def bad_sample(n):
    """bad_batch: the dataset's item n, one of which has the wrong length."""
    return sample(n, BAD_FEATURES if n == BAD_SAMPLE else FEATURES)


def other_mode(framework, modes, mode):
    """A port's reason for a mode it does not run, or ""."""
    return "" if mode in modes else \
        f"the {framework} dx port runs modes {', '.join(modes)}, not {mode}"


# Where an export does not depend on the mode, it runs once, in the first.
EXPORT_IN_FIRST_MODE = "an export is the same in every mode: see mode {}"


class NonFinite(Exception):
    """Raised by this loop's own check (not the framework's) when the loss is NaN or Inf."""


class Window:
    """What a fault function reports through: the steps it completed and their losses."""

    def __init__(self, events):
        self.events = events
        self.steps = 0

    def step(self, i, loss):
        loss = float(loss)
        finite = math.isfinite(loss)
        self.events.write("dx_step", i=i, loss=loss if finite else None, finite=finite)
        self.steps += 1
        if not finite:
            raise NonFinite(f"loss is {loss} after step {i}")


def _flush_all():
    """Python's buffers and C's stdio ones: what native code printf'd belongs where it was
    printed."""
    sys.stdout.flush()
    sys.stderr.flush()
    _LIBC.fflush(None)


_LIBC = ctypes.CDLL(None)


@contextlib.contextmanager
def _into(path):
    """fds 1 and 2 (and so sys.stderr, Python warnings and native logs) lead to `path`."""
    _flush_all()
    saved = os.dup(1), os.dup(2)
    with open(path, "ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
    try:
        yield
    finally:
        _flush_all()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


_REQUEST = {"fault": str, "mode": str, "threads": int, "error_file": str, "onnx_model": str}


def read_request(path):
    try:
        with open(path) as f:
            request = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: cannot read the dx request: {e}") from e
    for field, kind in _REQUEST.items():
        if not isinstance(request.get(field), kind):
            raise UsageError(f"{path}: field {field} must be "
                             f"{'an integer' if kind is int else 'a string'}")
    if request["fault"] not in FAULTS:
        raise UsageError(f"{path}: unknown fault '{request['fault']}' "
                         f"(have: {', '.join(FAULTS)})")
    return request


def run(framework, request_path, events):
    """One fault in one framework; returns the exit code (0 whatever the fault did)."""
    request = read_request(request_path)
    if framework not in FRAMEWORKS:
        raise UsageError(f"unknown framework '{framework}' (have: {', '.join(FRAMEWORKS)})")
    os.environ["FWBENCH_MODE"] = request["mode"]
    os.environ["FWBENCH_THREADS"] = str(request["threads"])
    # As in a trial (runner.main): Inductor compiles on the case's threads, into a cache of its
    # own, not one a previous case warmed.
    os.environ["TORCHINDUCTOR_COMPILE_THREADS"] = str(request["threads"])
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(
        os.path.dirname(os.path.abspath(request["error_file"])), "inductor-cache")
    port = importlib.import_module(f"{__package__}.dx_{framework}")
    events.write("dx_hello", framework=port.FRAMEWORK, version=port.version(),
                 language="python", mode=request["mode"], threads=request["threads"],
                 port_file=os.path.abspath(port.__file__))
    fault = request["fault"]
    reason = port.not_applicable(fault, request["mode"])
    if reason:
        events.write("dx_end", outcome="n/a", reason=reason)
        return 0
    # What the framework reports back, where its port returns it (the trial ports' pools).
    pools = port.set_threads(request["threads"])
    fn = getattr(port, fault)
    window = Window(events)
    with _into(request["error_file"]):
        t0 = now()
        events.write("dx_start", t=t0, **({"pools": pools} if pools else {}))
        try:
            note = fn(request, window)
            end = {"outcome": "silent", "t": now(), "note": note or ""}
        except NonFinite as e:
            end = {"outcome": "loop", "t": now(), "message": str(e)}
        except Exception as e:  # noqa: BLE001 - what the framework raised is the measurement
            t1 = now()
            # Where the error's own text starts, after what the framework printed before it.
            _flush_all()
            offset = os.fstat(2).st_size
            # As Python's default hook prints it, less this driver's own frame.
            traceback.print_exception(type(e), e, e.__traceback__.tb_next)
            end = {"outcome": "error", "t": t1, "exception": type(e).__name__,
                   "error_offset": offset}
    events.write("dx_end", steps=window.steps, **end)
    return 0
