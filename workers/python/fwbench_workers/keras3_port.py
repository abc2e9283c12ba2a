"""Keras 3 port: the Keras ResNet (keras_resnet.py) under KERAS_BACKEND = the trial's mode
(tensorflow, torch or jax), set before Keras is imported.

Training uses Keras's own train_on_batch (compiled by the backend: XLA for jax and tensorflow)
with SGD + momentum; PyTorch's weight decay (an L2 term in the gradient, not Keras's decoupled
decay) is an L2 regulariser of weight_decay / 2 on every parameter, and the reported loss is
the cross-entropy alone (the L2 term of the weights before the step is subtracted). Not installable from Debian 12; runs wherever `import keras` (3.x)
works.
"""
import os

MODES = ("tensorflow", "torch", "jax")
os.environ["KERAS_BACKEND"] = os.environ.get("FWBENCH_MODE", "") if \
    os.environ.get("FWBENCH_MODE", "") in MODES else os.environ.get("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from . import keras_resnet  # noqa: E402
from .protocol import Unsupported, UsageError  # noqa: E402

if int(keras.__version__.split(".")[0]) < 3:
    raise ImportError(f"keras {keras.__version__} is not Keras 3")


def probe_modes():
    out = {}
    for m in MODES:
        try:
            __import__({"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}[m])
            out[m] = ""
        except ImportError as e:
            out[m] = f"Keras backend {m} is not installed: {e}"
    return out


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
        if keras.backend.backend() != s["mode"]:
            raise Unsupported(f"Keras was imported with backend {keras.backend.backend()}, the "
                              f"trial asks for {s['mode']}")
        if s["precision"] != "fp32":
            raise Unsupported("the keras3 worker runs fp32 only (supported: precision fp32)")
        if s["memory_format"] != "contiguous":
            raise Unsupported("Keras layouts are NHWC by construction (supported: memory_format "
                              "contiguous)")

    def init(self):
        keras.utils.set_random_seed(self.spec["seed"])

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
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    def to_input(self, x, y):
        # Runs just before each timed step: the L2 term of the current weights, to take off
        # the loss train_on_batch reports, is computed here, outside the timed region.
        if self.wd:
            self.penalty = self._penalty()
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)), y

    def compile(self, example, check):
        # Inference: the first predict_on_batch traces and compiles. Training compiles in its
        # first step (it cannot run without changing the weights); that shows as warm-up.
        if not self.train:
            self.model.predict_on_batch(self.to_input(*example)[0])

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
