"""Keras 3's dx port (dx.py): the MLP as a functional keras.Model, compiled with SGD and trained
with train_on_batch under KERAS_BACKEND = the mode (tensorflow, torch or jax), set from
FWBENCH_MODE before Keras is imported; data through keras.utils.PyDataset and fit(); export with
Model.export(format="onnx"), which takes a different route on each backend."""
import os
import tempfile

from . import dx
from .protocol import limit_cpus_from_env

MODES = ("tensorflow", "torch", "jax")

if os.environ.get("FWBENCH_MODE") in MODES:
    os.environ["KERAS_BACKEND"] = os.environ["FWBENCH_MODE"]
    if os.environ["KERAS_BACKEND"] == "jax":
        limit_cpus_from_env()  # XLA sizes its thread pools from the allowed CPUs

import keras  # noqa: E402
import numpy as np  # noqa: E402

FRAMEWORK = "Keras"


def version():
    return keras.__version__


def not_applicable(fault, mode):
    return dx.other_mode(FRAMEWORK, MODES, mode)


def set_threads(threads):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        from .tensorflow_port import set_tensorflow_threads
        return set_tensorflow_threads(tf, threads)
    if backend == "torch":
        from .torch_setup import set_torch_threads
        return set_torch_threads(threads)
    # jax: XLA sized its pools at import, from the CPUs limit_cpus_from_env allowed.
    return None


class Whiten(keras.layers.Layer):
    """A layer a model might hold (whitening by a Cholesky factor) that ONNX has no op for."""

    def call(self, h):
        n = keras.ops.cast(keras.ops.shape(h)[0], h.dtype)
        gram = keras.ops.matmul(keras.ops.transpose(h), h) / n + keras.ops.eye(h.shape[-1])
        return keras.ops.matmul(h, keras.ops.cholesky(gram))


def _model(classifier=None, whiten=False):
    x = keras.Input((dx.FEATURES,), name="pixels")
    h = keras.layers.Dense(dx.HIDDEN, activation="relu", name="hidden")(x)
    if whiten:
        h = Whiten(name="whiten")(h)
    model = keras.Model(x, (classifier or keras.layers.Dense(dx.CLASSES, name="classifier"))(h))
    if classifier is None:
        w = dx.weights()
        for name in ("hidden", "classifier"):
            # Keras keeps the kernel [in, out].
            model.get_layer(name).set_weights([w[f"{name}.weight"].T, w[f"{name}.bias"]])
    return model


def _compile(model, lr):
    model.compile(optimizer=keras.optimizers.SGD(lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _train(window, model, lr, steps):
    _compile(model, lr)
    for i in range(steps):
        window.step(i, model.train_on_batch(*dx.batch(i)))


def shape_mismatch(request, window):
    classifier = keras.Sequential([keras.Input((dx.WRONG_IN_FEATURES,)),
                                   keras.layers.Dense(dx.CLASSES)], name="classifier")
    _train(window, _model(classifier), dx.LR, 4)


def exploding_loss(request, window):
    _train(window, _model(), dx.EXPLODING_LR, dx.MAX_STEPS)
    return f"the loss stayed finite for {dx.MAX_STEPS} steps"


def exploding_loss_checked(request, window):
    # Keras has no NaN check of its own but fit()'s TerminateOnNaN callback, which ends training
    # with a printed line, not an error: the check is the backend's own.
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        tf.debugging.enable_check_numerics()
    elif backend == "jax":
        import jax
        jax.config.update("jax_debug_nans", True)
    else:
        import torch
        with torch.autograd.detect_anomaly():
            return exploding_loss(request, window)
    return exploding_loss(request, window)


class Samples(keras.utils.PyDataset):
    def __len__(self):
        return dx.SAMPLES // dx.BATCH

    def __getitem__(self, b):
        idx = range(b * dx.BATCH, (b + 1) * dx.BATCH)
        return np.stack([dx.bad_sample(n) for n in idx]), np.array([dx.label(n) for n in idx])


class Steps(keras.callbacks.Callback):
    """fit's logs hold the epoch's running mean of the loss: each batch's own is taken out."""

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.total = 0.0

    def on_train_batch_end(self, batch, logs=None):
        total = logs["loss"] * (batch + 1)
        self.window.step(batch, total - self.total)
        self.total = total


def bad_batch(request, window):
    model = _compile(_model(), dx.LR)
    # fit shuffles a PyDataset's batches by default: in order, the bad one is the third, as in
    # every port.
    model.fit(Samples(), epochs=1, shuffle=False, callbacks=[Steps(window)])
    return "every batch trained"


def wrong_dtype(request, window):
    out = _model().predict_on_batch(dx.raw_pixels(dx.batch(0)[0]))
    return f"inference ran on the uint8 pixels: logits {tuple(out.shape)} {out.dtype}"


def export_unsupported(request, window):
    import onnx  # only this fault needs it

    path = os.path.join(tempfile.mkdtemp(dir=os.path.dirname(request["error_file"])),
                        "model.onnx")
    model = _model(whiten=True)
    # export() refuses a model never called on data ("The model provided has never called"),
    # and on jax predict_on_batch does not count: the user's model would have been run first.
    model(dx.batch(0)[0])
    model.export(path, format="onnx")
    unknown = sorted({n.op_type for n in onnx.load(path).graph.node
                      if not onnx.defs.has(n.op_type, n.domain)})
    return f"exported; ops ONNX does not define: {', '.join(unknown)}" if unknown else "exported"
