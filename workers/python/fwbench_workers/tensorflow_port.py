"""TensorFlow port: the Keras ResNet (keras_resnet.py) run by TensorFlow.

Modes: eager (plain Python calls), function (tf.function graphs), xla
(tf.function(jit_compile=True)). Training is a GradientTape step with PyTorch's SGD written
out (weight decay added to the gradient, then momentum), so the update is the same function as
LibTorch's. From PyPI (.venvs/tf, install-deps.sh); runs wherever `import tensorflow` works.
"""
import os

import numpy as np
import tensorflow as tf

from . import keras_resnet
from .device import require_device

PORT_FILES = [__file__, keras_resnet.__file__]
from .protocol import pool, tool_error, Unsupported, UsageError, written_in_place_of

MODES = ("eager", "function", "xla")
# Task train_ddp: MultiWorkerMirroredStrategy's ring all-reduce of the gradients (gRPC between
# the workers). XLA does not compile TensorFlow's collective ops on the CPU.
DDP_MODES = ("eager", "function")
DDP_COLLECTIVES = "tf.distribute MultiWorkerMirroredStrategy (ring)"


def probe_modes():
    return {m: "" for m in MODES}


class Port:
    framework = "tensorflow"
    version = tf.__version__

    def __init__(self, spec):
        self.spec = spec
        self.train = spec["task"] in ("train", "train_ddp")
        self.strategy = None
        self.compiles = spec["mode"] in ("function", "xla")

    def check_supported(self):
        s = self.spec
        if s["mode"] not in MODES:
            raise UsageError(f"tensorflow has no mode '{s['mode']}' (supported: {', '.join(MODES)})")
        if s["precision"] != "fp32":
            raise UsageError("the tensorflow worker runs fp32 only (supported: precision fp32)")
        if s["memory_format"] != "contiguous":
            raise UsageError("Keras layouts are NHWC by construction (supported: memory_format "
                              "contiguous)")

    def set_threads(self, threads):
        return set_tensorflow_threads(tf, threads)

    def init_ddp(self, peers):
        import json
        if peers.world > 1:
            os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": peers.addrs},
                                                  "task": {"type": "worker", "index": peers.rank}})
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING,
            timeout_seconds=self.spec["budget"]["max_seconds"] + 60)
        # Only the collective is the strategy's: the model's variables stay this worker's own,
        # updated by the same SGD as the single-process port, with the averaged gradients.
        self.strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)

    def init(self):
        tf.random.set_seed(self.spec["seed"])
        self.device = "/GPU:0" if self.spec["device"] == "cuda" else "/CPU:0"
        require_device(self.spec, "tensorflow")

    def build(self):
        m = self.spec["model"]
        with tf.device(self.device):
            self.model = keras_resnet.build(tf.keras, m["arch"], m["stem"], m["num_classes"],
                                            UsageError)

    def load_weights(self, tensors):
        keras_resnet.load(self.model, tensors, self.spec["weights"], UsageError)
        self.variables = self.model.trainable_variables
        o = self.spec["optimizer"]
        self.lr, self.momentum, self.wd = o["lr"], o["momentum"], o["weight_decay"]
        self.buffers = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.variables]
        self.first = tf.Variable(True, trainable=False)
        step = self._train_step if self.train else self._infer_step
        if self.strategy is not None:
            step = self._ddp_train_step
        if self.spec["mode"] == "function":
            step = tf.function(step)
        elif self.spec["mode"] == "xla":
            step = tf.function(step, jit_compile=True)
        self.step = step

    def _train_step(self, x, y, average=None):
        with tf.GradientTape() as tape:
            logits = self.model(x, training=True)
            loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(
                y, logits, from_logits=True))
        grads = tape.gradient(loss, self.variables)
        if average is not None:
            grads = average(grads)
        for v, g, buf in zip(self.variables, grads, self.buffers):
            g = g + self.wd * v
            # PyTorch: the first step's buffer is the gradient itself.
            buf.assign(tf.where(self.first, g, self.momentum * buf + g))
            v.assign_sub(self.lr * buf)
        self.first.assign(False)
        return loss

    def _ddp_train_step(self, x, y):
        def replica(x, y):
            context = tf.distribute.get_replica_context()
            return self._train_step(
                x, y, lambda grads: context.all_reduce(tf.distribute.ReduceOp.MEAN, grads))
        return self.strategy.run(replica, args=(x, y))

    def _infer_step(self, x):
        return self.model(x, training=False)

    def to_input(self, x, y):
        with tf.device(self.device):
            return tf.constant(x.transpose(0, 2, 3, 1)), tf.constant(y)

    def compile(self, example, check):
        # Trace and compile (XLA included) by running one real step; for training, the weights,
        # BatchNorm statistics and momentum buffers are restored afterwards, so the timed run
        # starts from exactly the shared initial state.
        x, y = self.to_input(*example)
        if self.train:
            state = self.model.variables + self.buffers + [self.first]
            saved = [v.numpy() for v in state]
            self.step(x, y).numpy()
            for v, value in zip(state, saved):
                v.assign(value)
        else:
            self.step(x).numpy()

    def train_step(self, x, y):
        return float(self.step(x, y).numpy())

    def infer_step(self, x):
        self.step(x).numpy()  # .numpy() waits for the result

    def logits(self, inputs):
        # The timed function (tf.function, XLA) itself, not the eager model beside it.
        x, _ = self.to_input(inputs, np.zeros(len(inputs), dtype=np.int64))
        return self.step(x).numpy()

    def save_model(self, out_dir):
        return []


def set_tensorflow_threads(tf, threads):
    """TensorFlow's intra-op pool (Eigen, which its oneDNN kernels run on too) holds the trial's
    threads, its inter-op pool 1; set before the runtime starts, read back from its config."""
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    return [pool("tensorflow intra-op (get_intra_op_parallelism_threads)", "compute", threads,
                 tf.config.threading.get_intra_op_parallelism_threads()),
            pool("tensorflow inter-op (get_inter_op_parallelism_threads)", "pinned", 1,
                 tf.config.threading.get_inter_op_parallelism_threads())]


# --- the user's own SavedModel (workload user_model, docs/your-model.md) -------------------

MODEL_FORMATS = ("savedmodel",)
# A SavedModel's serving signature is a graph already ("function", as saved); "xla" compiles it
# with tf.function(jit_compile=True). There is no eager form of a saved graph.
MODEL_MODES = ("function", "xla")
SIGNATURE = "serving_default"


def _load_signature(path):
    try:
        loaded = tf.saved_model.load(path)
    except Exception as e:  # noqa: BLE001 - TensorFlow raises several types for a bad folder
        said = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
        raise UsageError(f"{path}: TensorFlow {tf.__version__} cannot load it as a SavedModel: "
                         f"{said}") from e
    if SIGNATURE not in loaded.signatures:
        raise UsageError(f"{path}: the SavedModel has no '{SIGNATURE}' signature (it has: "
                         f"{', '.join(loaded.signatures) or 'none'}); save it with one, e.g. "
                         "tf.saved_model.save(model, path, signatures=...)")
    return loaded, loaded.signatures[SIGNATURE]


def _specs(specs):
    return [{"name": name, "dtype": spec.dtype.name,
             "shape": [d if isinstance(d, int) else None for d in spec.shape.as_list()]}
            for name, spec in sorted(specs.items())]


def describe_model(path):
    """The serving signature's inputs and outputs, as TensorFlow reads them."""
    _, fn = _load_signature(path)
    return {"runtime": f"tensorflow {tf.__version__} ({SIGNATURE})",
            "inputs": _specs(fn.structured_input_signature[1]),
            "outputs": _specs(fn.structured_outputs)}


def convert_model(request):
    """SavedModel → ONNX (tf2onnx) or ONNX → SavedModel (onnx2tf), each a converter's command
    line run as a child process, so that its graph rewriting never shares this worker's
    TensorFlow state."""
    source, target = request["source"], request["to"]
    if source["format"] in MODEL_FORMATS and target == "onnx":
        return _savedmodel_to_onnx(request)
    if source["format"] == "onnx" and target in MODEL_FORMATS:
        return _onnx_to_savedmodel(request)
    raise Unsupported(f"the TensorFlow worker converts a SavedModel to ONNX and ONNX to a "
                      f"SavedModel, not {source['format']} to {target}")


def _savedmodel_to_onnx(request):
    """tf2onnx, the route TensorFlow's own docs give: its command line on the serving signature,
    the dimensions as the SavedModel declares them."""
    import subprocess
    import sys
    import time
    source, out = request["source"], request["out"]
    try:
        import tf2onnx
    except ImportError as e:
        raise Unsupported("tf2onnx, the SavedModel → ONNX converter, is not installed for this "
                          "interpreter (./scripts/install-deps.sh puts it in .venvs/tf)") from e
    t0 = time.monotonic()
    with written_in_place_of(out, ".onnx") as tmp:
        done = subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--saved-model",
                               source["file"], "--signature_def", SIGNATURE, "--output", tmp],
                              capture_output=True, text=True, check=False)
        # tf2onnx logs the ops it cannot convert and still writes (and exits 0 with) a model that
        # no runtime loads: its "Unsupported ops" line is the finding.
        unsupported = "Unsupported ops" in done.stderr
        if done.returncode != 0 or not os.path.exists(tmp) or unsupported:
            raise ConversionFailed(f"tf2onnx {tf2onnx.__version__}: {tool_error(done.stderr)}")
    return {"file": out, "format": "onnx", "converter": f"tf2onnx {tf2onnx.__version__}",
            "seconds": time.monotonic() - t0}


def _onnx2tf_python():
    """The interpreter of .venvs/onnx2tf, beside this worker's environment (or under
    $FWBENCH_VENVS): onnx2tf's exact pins need an environment of their own."""
    import sys
    venvs = os.environ.get("FWBENCH_VENVS") or os.path.dirname(sys.prefix)
    python = os.path.join(venvs, "onnx2tf", "bin", "python")
    if not os.access(python, os.X_OK):
        raise Unsupported(f"onnx2tf, the ONNX → TensorFlow converter, is not installed ({python} "
                          "is missing; ./scripts/install-deps.sh makes .venvs/onnx2tf)")
    return python


def _onnx_to_savedmodel(request):
    """onnx2tf with every input's shape kept as the ONNX file has it (-kat: onnx2tf turns NCHW
    inputs into NHWC otherwise, a different signature), the SavedModel through its tf_converter
    back end, with a serving signature."""
    import subprocess
    import time
    source, out = request["source"], request["out"]
    python = _onnx2tf_python()
    version = subprocess.run([python, "-c", "import importlib.metadata as m; "
                              "print(m.version('onnx2tf'))"],
                             capture_output=True, text=True, check=False).stdout.strip()
    names = [i["name"] for i in source["inputs"]]
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(python) + os.pathsep + env.get("PATH", "")  # its onnxsim
    t0 = time.monotonic()
    with written_in_place_of(out) as tmp:
        done = subprocess.run([python, "-m", "onnx2tf", "-i", source["file"], "-o", tmp, "-osd",
                               "-tb", "tf_converter", "-kat", *names],
                              capture_output=True, text=True, check=False, env=env,
                              cwd=os.path.dirname(out))
        if done.returncode != 0 or not os.path.isfile(os.path.join(tmp, "saved_model.pb")):
            raise ConversionFailed(f"onnx2tf {version}: {tool_error(done.stdout + done.stderr)}")
    return {"file": out, "format": "savedmodel", "converter": f"onnx2tf {version}",
            "seconds": time.monotonic() - t0}


class ConversionFailed(RuntimeError):
    """The converter ran and refused the model: its message is the portability row's."""


class ModelPort(Port):
    """The user's SavedModel: its serving signature as saved (a graph), or compiled by XLA."""

    def __init__(self, spec):
        super().__init__(spec)
        self.compiles = True

    def check_supported(self):
        s, um = self.spec, self.spec["user_model"]
        if um["format"] not in MODEL_FORMATS:
            raise Unsupported(f"tensorflow loads SavedModels, not {um['format']}")
        if s["mode"] not in MODEL_MODES:
            raise UsageError(f"tensorflow runs a SavedModel in modes {', '.join(MODEL_MODES)}, "
                             f"not '{s['mode']}'")
        if s["task"] != "infer" or s["precision"] != "fp32" or \
                s["memory_format"] != "contiguous":
            raise Unsupported("tensorflow runs a user's model as it is (task infer, fp32)")

    def build(self):
        with tf.device(self.device):
            self.loaded, signature = _load_signature(self.spec["user_model"]["file"])
        self.output = sorted(signature.structured_outputs)[0]
        self.fn = signature if self.spec["mode"] == "function" else \
            tf.function(lambda **feeds: signature(**feeds), jit_compile=True)

    def to_feeds(self, feeds):
        with tf.device(self.device):
            return {name: tf.constant(a) for name, a in feeds.items()}

    def compile(self, feeds):
        self.fn(**feeds)[self.output].numpy()

    def infer_step(self, feeds):
        self.fn(**feeds)[self.output].numpy()  # .numpy() waits for the result

    def first_output(self, feeds):
        return self.fn(**feeds)[self.output].numpy()
