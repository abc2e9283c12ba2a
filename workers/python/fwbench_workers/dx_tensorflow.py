"""TensorFlow's dx port (dx.py): the MLP as tf.Modules trained with a GradientTape, eagerly (mode
eager), as a tf.function graph (mode function) or compiled by XLA (mode xla,
tf.function(jit_compile=True)); data through tf.data; export to ONNX with tf2onnx."""
import os
import tempfile

import tensorflow as tf

from . import dx
from .tensorflow_port import set_tensorflow_threads

FRAMEWORK = "TensorFlow"
MODES = ("eager", "function", "xla")


def version():
    return tf.__version__


def not_applicable(fault, mode):
    if fault == "export_unsupported" and mode in MODES[1:]:
        return dx.EXPORT_IN_FIRST_MODE.format(MODES[0])
    return dx.other_mode(FRAMEWORK, MODES, mode)


def set_threads(threads):
    return set_tensorflow_threads(tf, threads)


def _compiled(fn, mode):
    if mode == "function":
        return tf.function(fn)
    if mode == "xla":
        return tf.function(fn, jit_compile=True)
    return fn


class Dense(tf.Module):
    def __init__(self, in_features, out_features, name):
        super().__init__(name=name)
        bound = in_features ** -0.5  # PyTorch's default initialisation
        self.kernel = tf.Variable(tf.random.uniform([in_features, out_features], -bound, bound),
                                  name="kernel")
        self.bias = tf.Variable(tf.zeros([out_features]), name="bias")

    @tf.Module.with_name_scope
    def __call__(self, x):
        return x @ self.kernel + self.bias


class Mlp(tf.Module):
    def __init__(self, classifier_in=dx.HIDDEN):
        super().__init__(name="mlp")
        self.hidden = Dense(dx.FEATURES, dx.HIDDEN, name="hidden")
        self.classifier = Dense(classifier_in, dx.CLASSES, name="classifier")

    @tf.Module.with_name_scope
    def __call__(self, x):
        return self.classifier(tf.nn.relu(self.hidden(x)))


class CholeskyMlp(Mlp):
    """A layer a model might hold (whitening by a Cholesky factor) that ONNX has no op for."""

    @tf.Module.with_name_scope
    def __call__(self, x):
        h = tf.nn.relu(self.hidden(x))
        n = tf.cast(tf.shape(h)[0], h.dtype)
        gram = tf.matmul(h, h, transpose_a=True) / n + tf.eye(h.shape[1])
        return self.classifier(h @ tf.linalg.cholesky(gram))


def _model(cls=Mlp, classifier_in=dx.HIDDEN):
    model = cls(classifier_in)
    if classifier_in == dx.HIDDEN:
        w = dx.weights()
        for layer in (model.hidden, model.classifier):
            layer.kernel.assign(w[f"{layer.name}.weight"].T)  # TensorFlow keeps [in, out]
            layer.bias.assign(w[f"{layer.name}.bias"])
    return model


def _train(request, window, model, lr, batches, steps):
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, model(x)))
        grads = tape.gradient(loss, model.trainable_variables)
        for v, g in zip(model.trainable_variables, grads):
            v.assign_sub(lr * g)
        return loss

    train_step = _compiled(train_step, request["mode"])
    for i, (x, y) in zip(range(steps), batches):
        window.step(i, train_step(x, y).numpy())


def shape_mismatch(request, window):
    _train(request, window, _model(classifier_in=dx.WRONG_IN_FEATURES), dx.LR,
           dx.batches(tf.constant), 4)


def exploding_loss(request, window):
    _train(request, window, _model(), dx.EXPLODING_LR, dx.batches(tf.constant),
           dx.MAX_STEPS)
    return f"the loss stayed finite for {dx.MAX_STEPS} steps"


def exploding_loss_checked(request, window):
    tf.debugging.enable_check_numerics()
    return exploding_loss(request, window)


def bad_batch(request, window):
    def samples():
        for n in range(dx.SAMPLES):
            yield dx.bad_sample(n), dx.label(n)

    # The feature dimension is declared unknown, so the short sample reaches batch().
    data = tf.data.Dataset.from_generator(
        samples, output_signature=(tf.TensorSpec([None], tf.float32),
                                   tf.TensorSpec([], tf.int64))).batch(dx.BATCH)
    _train(request, window, _model(), dx.LR, iter(data), dx.SAMPLES // dx.BATCH)
    return "every batch trained"


def wrong_dtype(request, window):
    forward = _compiled(_model(), request["mode"])
    out = forward(tf.constant(dx.raw_pixels(dx.batch(0)[0])))
    return f"inference ran on the uint8 pixels: logits {tuple(out.shape)} {out.dtype.name}"


def export_unsupported(request, window):
    # Their imports are slow and only this fault needs them.
    import onnx
    import tf2onnx

    out = tempfile.mkdtemp(dir=os.path.dirname(request["error_file"]))
    spec = (tf.TensorSpec([None, dx.FEATURES], tf.float32, name="x"),)
    onnx_model, _ = tf2onnx.convert.from_function(
        tf.function(_model(CholeskyMlp)), input_signature=spec,
        output_path=os.path.join(out, "model.onnx"))
    # tf2onnx logs the ops it cannot convert and still writes the model, returning normally.
    unknown = sorted({n.op_type for n in onnx_model.graph.node
                      if not onnx.defs.has(n.op_type, n.domain)})
    return f"exported; ops ONNX does not define: {', '.join(unknown)}" if unknown else "exported"
