"""What the dx ports of the inference runtimes (dx_onnxruntime.py, dx_openvino.py, dx_opencv.py)
share. A runtime runs a model file and trains none, so only the faults of the data it is fed
apply: each port loads request["onnx_model"] (the dx model, dx_onnx.py) inside the fault window,
where loading is part of what the user does, and runs one batch through `run(request, x)`."""
import numpy as np

from . import dx

_NOT_TRAINED = "a runtime: it runs a model file, it does not train one"
_REASONS = {"shape_mismatch": _NOT_TRAINED, "exploding_loss": _NOT_TRAINED,
            "exploding_loss_checked": _NOT_TRAINED,
            "export_unsupported": "a runtime: it exports nothing"}


def not_applicable(framework, modes, fault, mode):
    return dx.other_mode(framework, modes, mode) or _REASONS.get(fault, "")


def _ran(what, out):
    out = np.asarray(out)
    return f"the runtime ran {what}: logits {tuple(out.shape)} {out.dtype}"


def wrong_dtype(request, run):
    return _ran("the uint8 pixels", run(request, dx.raw_pixels(dx.batch(0)[0])))


def bad_batch(request, run):
    # The batch that holds the bad sample, as a pipeline that cuts every row to the shortest
    # hands it to the runtime: [16, BAD_FEATURES].
    step = dx.BAD_SAMPLE // dx.BATCH
    x = np.stack([dx.sample(n, dx.BAD_FEATURES) for n in dx.batch_indices(step)])
    return _ran(f"a batch of {x.shape[1]} features", run(request, x))
