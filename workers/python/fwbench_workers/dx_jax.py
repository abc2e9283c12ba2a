"""JAX's dx port (dx.py): the MLP as pure functions over a params dict, the SGD step written with
jax.grad and compiled by jax.jit (mode jit). JAX has no data pipeline of its own: batches are
stacked with numpy in a Python generator. Nor has it an ONNX exporter here (jax2onnx is not
installed): its export, jax.export to StableHLO, has every operation, so the export fault is
n/a. XLA has no thread-count setting for the CPU: the threads are applied as CPU affinity before
JAX is imported (protocol.limit_cpus_from_env)."""
from .protocol import limit_cpus_from_env

limit_cpus_from_env()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from . import dx  # noqa: E402

FRAMEWORK = "JAX"
MODES = ("jit",)


def version():
    return jax.__version__


def not_applicable(fault, mode):
    if fault == "export_unsupported" and mode in MODES:
        # jax.export writes StableHLO, which has Cholesky: nothing to fail.
        return ("JAX has no ONNX exporter here (jax2onnx is not installed); its own export, "
                "jax.export to StableHLO, holds every JAX operation")
    return dx.other_mode(FRAMEWORK, MODES, mode)


def set_threads(threads):
    pass  # XLA sized its pools at import, from the CPUs limit_cpus_from_env allowed


def _params(classifier_in=dx.HIDDEN):
    w = dx.weights()
    # The kernels [in, out], as JAX libraries (Flax, Haiku) keep them.
    params = {name: {"kernel": jnp.asarray(w[f"{name}.weight"].T),
                     "bias": jnp.asarray(w[f"{name}.bias"])} for name in ("hidden", "classifier")}
    if classifier_in != dx.HIDDEN:
        params["classifier"]["kernel"] = 0.1 * jax.random.normal(
            jax.random.key(0), (classifier_in, dx.CLASSES))
    return params


def forward(params, x):
    h = jax.nn.relu(x @ params["hidden"]["kernel"] + params["hidden"]["bias"])
    return h @ params["classifier"]["kernel"] + params["classifier"]["bias"]


def loss_fn(params, x, y):
    logp = jax.nn.log_softmax(forward(params, x))
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def _train(window, params, lr, batches, steps):
    @jax.jit
    def train_step(params, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        return jax.tree.map(lambda p, g: p - lr * g, params, grads), loss

    for i, (x, y) in zip(range(steps), batches):
        params, loss = train_step(params, x, y)
        window.step(i, loss)


def shape_mismatch(request, window):
    _train(window, _params(dx.WRONG_IN_FEATURES), dx.LR, dx.batches(), 4)


def exploding_loss(request, window):
    _train(window, _params(), dx.EXPLODING_LR, dx.batches(), dx.MAX_STEPS)
    return f"the loss stayed finite for {dx.MAX_STEPS} steps"


def exploding_loss_checked(request, window):
    jax.config.update("jax_debug_nans", True)
    return exploding_loss(request, window)


def _stacked_batches():
    for start in range(0, dx.SAMPLES, dx.BATCH):
        idx = range(start, start + dx.BATCH)
        yield np.stack([dx.bad_sample(n) for n in idx]), np.array([dx.label(n) for n in idx])


def bad_batch(request, window):
    _train(window, _params(), dx.LR, _stacked_batches(), dx.SAMPLES // dx.BATCH)
    return "every batch trained"


def wrong_dtype(request, window):
    out = jax.jit(forward)(_params(), dx.raw_pixels(dx.batch(0)[0]))
    return f"inference ran on the uint8 pixels: logits {tuple(out.shape)} {out.dtype}"
