"""Keras 3 port: the Keras ResNet (keras_resnet.py) under KERAS_BACKEND = the trial's mode
(tensorflow, torch or jax), set before Keras is imported.

Training uses Keras's own train_on_batch (compiled by the backend: XLA for jax and tensorflow)
with SGD + momentum; PyTorch's weight decay (an L2 term in the gradient, not Keras's decoupled
decay) is an L2 regulariser of weight_decay / 2 on every parameter, and the reported loss is
the cross-entropy alone (the L2 term of the weights before the step is subtracted). From PyPI
(.venvs/tf, install-deps.sh); runs wherever `import keras` (3.x)
works.
"""
import os

import importlib.util

from .protocol import limit_cpus_from_env

# A mode is the Keras backend; -nojit turns jit_compile off. Otherwise the image workload
# takes Keras's default ("auto": XLA on jax; on tensorflow only where a GPU is visible; off on
# torch) and the LLM workload turns XLA on (keras3_llm.jit_of).
MODES = ("tensorflow", "torch", "jax", "tensorflow-nojit", "jax-nojit")


def _backend():
    # A trial names its backend (the mode); a probe takes the first one that is installed.
    mode = os.environ.get("FWBENCH_MODE", "")
    if mode in MODES:
        return mode.split("-")[0]
    for m in ("jax", "tensorflow", "torch"):
        if importlib.util.find_spec(m) is not None:
            return m
    return os.environ.get("KERAS_BACKEND", "jax")


os.environ["KERAS_BACKEND"] = _backend()
if os.environ["KERAS_BACKEND"] == "jax":
    limit_cpus_from_env()  # XLA sizes its thread pools from the allowed CPUs

import keras  # noqa: E402
import numpy as np  # noqa: E402

from . import keras3_llm, keras_resnet, llama_files  # noqa: E402
from .device import require_device  # noqa: E402
from .protocol import Unsupported, UsageError, affinity_pool, written_in_place_of  # noqa: E402

PORT_FILES = [__file__, keras_resnet.__file__]
LLM_MODES = MODES
LLM_PORT_FILES = [__file__, keras3_llm.__file__, llama_files.__file__]

if int(keras.__version__.split(".")[0]) < 3:
    raise ImportError(f"keras {keras.__version__} is not Keras 3")


def probe_modes():
    out = {}
    for m in MODES:
        try:
            __import__(m.split("-")[0])
            out[m] = ""
        except ImportError as e:
            out[m] = f"Keras backend {m} is not installed: {e}"
    return out


def set_threads(threads):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        from .tensorflow_port import set_tensorflow_threads
        return set_tensorflow_threads(tf, threads)
    if backend == "torch":
        from .torch_setup import set_torch_threads
        return set_torch_threads(threads)
    return affinity_pool(threads)


class Port:
    framework = "keras"
    version = keras.__version__

    def __init__(self, spec):
        self.spec = spec
        self.train = spec["task"] == "train"
        self.compiles = True

    def check_supported(self):
        s = self.spec
        if s["mode"] not in MODES:
            raise UsageError(f"keras3 has no mode '{s['mode']}' (supported: {', '.join(MODES)})")
        if keras.backend.backend() != keras3_llm.backend_of(s["mode"]):
            raise Unsupported(f"Keras was imported with backend {keras.backend.backend()}, the "
                              f"trial asks for {s['mode']}")
        if s["precision"] != "fp32":
            raise UsageError("the keras3 worker runs fp32 only (supported: precision fp32)")
        if s["memory_format"] != "contiguous":
            raise UsageError("Keras layouts are NHWC by construction (supported: memory_format "
                              "contiguous)")

    @property
    def openmp_computes(self):
        return keras.backend.backend() == "torch"  # PyTorch's intra-op pool is its OpenMP team

    def set_threads(self, threads):
        return set_threads(threads)

    def init(self):
        keras.utils.set_random_seed(self.spec["seed"])
        require_device(self.spec, keras.backend.backend())

    def build(self):
        m = self.spec["model"]
        self.wd = self.spec["optimizer"]["weight_decay"] if self.train else 0.0
        reg = keras.regularizers.L2(self.wd / 2) if self.wd else None
        self.model = keras_resnet.build(keras, m["arch"], m["stem"], m["num_classes"],
                                        UsageError, regularizer=reg)
        self.penalty = 0.0

    def load_weights(self, tensors):
        keras_resnet.load(self.model, tensors, self.spec["weights"], UsageError)
        o = self.spec["optimizer"]
        self.model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=o["lr"], momentum=o["momentum"]),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=False if self.spec["mode"].endswith("-nojit") else "auto")

    def to_input(self, x, y):
        # Runs just before each timed step, outside the timed region: train_on_batch reports
        # its loss tracker's running mean, so the tracker is reset to make it this step's loss;
        # and the L2 term of the current weights, which that loss includes, is computed here.
        if self.train:
            self.model.reset_metrics()
        if self.wd:
            self.penalty = self._penalty()
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)), y

    def compile(self, example, check):
        # The first call traces and compiles. Training: one real train_on_batch, then the
        # weights, BatchNorm statistics and optimizer state (momentum, iterations) go back.
        x, y = self.to_input(*example)
        if self.train:
            # Keras creates the optimizer's momentum slots on its first update: listed before
            # that, they were not saved, and the compile step's momentum leaked into step 0's
            # update (training parity failed at step 1 by 9e-2, issue 18). Built first, they are.
            self.model.optimizer.build(self.model.trainable_variables)
            state = list(self.model.variables) + list(self.model.optimizer.variables)
            saved = [keras.ops.convert_to_numpy(v) for v in state]
            self.model.train_on_batch(x, y)
            for v, value in zip(state, saved):
                v.assign(value)
        else:
            self.model.predict_on_batch(x)

    def _penalty(self):
        return 0.5 * self.wd * sum(float(np.sum(np.square(keras.ops.convert_to_numpy(w))))
                                   for w in self.model.trainable_weights)

    def train_step(self, x, y):
        # train_on_batch reports cross-entropy + the L2 term of the weights before the update.
        return float(self.model.train_on_batch(x, y)) - self.penalty

    def infer_step(self, x):
        self.model.predict_on_batch(x)

    def logits(self, inputs):
        return np.asarray(self.model.predict_on_batch(
            np.ascontiguousarray(inputs.transpose(0, 2, 3, 1))))

    def save_model(self, out_dir):
        return []


class LlmPort(keras3_llm.LlmPort):
    """The LLM LoRA workload (keras3_llm.py) with this port's thread set-up."""

    def __init__(self, spec):
        super().__init__(spec, set_threads)

    def check_supported(self):
        super().check_supported(LLM_MODES)


# --- the user's own Keras model (workload user_model, docs/your-model.md) ------------------

MODEL_FORMATS = ("keras",)
MODEL_MODES = ("tensorflow", "torch", "jax")  # the .keras file on each Keras backend


def _load_model(path):
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001 - Keras raises several types for a bad file
        said = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
        raise UsageError(f"{path}: Keras {keras.__version__} cannot load it: {said}") from e


def _values(tensors):
    return [{"name": t.name, "dtype": str(t.dtype),
             "shape": [d if isinstance(d, int) else None for d in t.shape]} for t in tensors]


def describe_model(path):
    """The inputs and outputs Keras reads from the .keras file: the reference runtime of the
    format decides what the model takes."""
    model = _load_model(path)
    return {"runtime": f"keras {keras.__version__} ({keras.backend.backend()})",
            "inputs": _values(model.inputs), "outputs": _values(model.outputs)}


def convert_model(request):
    """A .keras model to ONNX with Keras's own exporter. On the torch backend it exports through
    torch.onnx (the tensorflow and jax backends go through tf2onnx instead)."""
    import time
    source, target, out = request["source"], request["to"], request["out"]
    if source["format"] != "keras" or target != "onnx":
        raise Unsupported(f"the Keras worker converts a .keras model to ONNX, not "
                          f"{source['format']} to {target}")
    model = _load_model(source["file"])
    # Keras exports a model that has been called once (its traced graph).
    model.predict_on_batch(_feeds_of(model, {i["name"]: np.zeros((2, *i["shape"]), i["dtype"])
                                             for i in source["inputs"]}))
    t0 = time.monotonic()
    with written_in_place_of(out, ".onnx") as tmp:
        model.export(tmp, format="onnx", verbose=False)
    return {"file": out, "format": "onnx",
            "converter": f"keras.Model.export(format='onnx') {keras.__version__} on "
                         f"{keras.backend.backend()}",
            "seconds": time.monotonic() - t0}


def _feeds_of(model, arrays):
    # One input: its array; several: a list in the model's order.
    names = [t.name for t in model.inputs]
    return arrays[names[0]] if len(names) == 1 else [arrays[n] for n in names]


class ModelPort(Port):
    """The user's .keras model on the trial's Keras backend, called through predict_on_batch
    (the backend's compiled function, as the image port runs)."""

    def check_supported(self):
        s, um = self.spec, self.spec["user_model"]
        if um["format"] not in MODEL_FORMATS:
            raise Unsupported(f"keras3 loads .keras models, not {um['format']}")
        if s["mode"] not in MODEL_MODES:
            raise Unsupported(f"keras3/{s['mode']} does not run a user's model (modes that do: "
                              f"{', '.join(MODEL_MODES)})")
        if keras.backend.backend() != s["mode"]:
            raise Unsupported(f"Keras was imported with backend {keras.backend.backend()}, the "
                              f"trial asks for {s['mode']}")
        if s["task"] != "infer" or s["precision"] != "fp32" or \
                s["memory_format"] != "contiguous":
            raise Unsupported("keras3 runs a user's model as it is (task infer, precision fp32)")
        require_device(self.spec, keras.backend.backend())

    def init(self):
        keras.utils.set_random_seed(self.spec["seed"])

    def build(self):
        self.model = _load_model(self.spec["user_model"]["file"])

    def to_feeds(self, feeds):
        return _feeds_of(self.model, feeds)

    def compile(self, feeds):
        self.model.predict_on_batch(feeds)

    def infer_step(self, feeds):
        self.model.predict_on_batch(feeds)

    def first_output(self, feeds):
        out = self.model.predict_on_batch(feeds)
        while isinstance(out, (list, tuple, dict)):
            out = next(iter(out.values())) if isinstance(out, dict) else out[0]
        return np.asarray(out)


def matmul_peak_probe(mode, threads):
    """runner.matmul_peak_probe: the GEMM of `mode`'s Keras backend on the trial's threads; the
    -nojit twin computes its matmuls in the same library."""
    from . import matmul_peak
    set_threads(threads)
    backend = keras.backend.backend()
    flops, size = matmul_peak.measure(keras3_llm.matmul_for)
    library = {"tensorflow": "tf.matmul", "jax": "jax.jit(jnp.matmul)"}.get(backend, "torch.mm")
    return {"flops_per_s": flops, "size": size, "library": f"{library} (Keras {keras.__version__} "
            f"on {backend})", "modes": [m for m in LLM_MODES if m.split("-")[0] == backend]}
