"""OpenVINO's dx port (dx.py, dx_runtime.py): the dx model's ONNX file compiled for the CPU plugin,
one stream, f32, latency hint, as openvino_port.py compiles it."""
import numpy as np
import openvino as ov

from . import dx_runtime

FRAMEWORK = "OpenVINO"
MODES = ("latency",)

_config = {"NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}


def version():
    return ov.__version__.split("-")[0]


def not_applicable(fault, mode):
    return dx_runtime.not_applicable(FRAMEWORK, MODES, fault, mode)


def set_threads(threads):
    _config["INFERENCE_NUM_THREADS"] = threads


def _run(request, x):
    core = ov.Core()
    compiled = core.compile_model(core.read_model(request["onnx_model"]), "CPU", _config)
    infer = compiled.create_infer_request()
    infer.infer({"input": x})
    return np.array(infer.get_output_tensor(0).data, copy=True)


def wrong_dtype(request, window):
    return dx_runtime.wrong_dtype(request, _run)


def bad_batch(request, window):
    return dx_runtime.bad_batch(request, _run)
