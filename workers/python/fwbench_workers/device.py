"""What a spec's device means to every framework, in one place: cuda is a GPU the framework sees,
never a silent fall back to the CPU."""
from .protocol import UsageError

NAMES = {"tensorflow": "TensorFlow", "torch": "PyTorch", "jax": "JAX"}


def gpu_visible(framework):
    if framework == "tensorflow":
        import tensorflow as tf
        return bool(tf.config.list_physical_devices("GPU"))
    if framework == "torch":
        import torch
        return torch.cuda.is_available()
    if framework == "jax":
        import jax
        return any(d.platform == "gpu" for d in jax.devices())
    raise ValueError(f"no GPU check for framework '{framework}'")


def require_device(spec, framework):
    """UsageError when the spec asks for cuda and `framework` (tensorflow, torch, jax) sees no
    GPU."""
    if spec["device"] == "cuda" and not gpu_visible(framework):
        raise UsageError(f"device cuda: {NAMES[framework]} sees no GPU")
