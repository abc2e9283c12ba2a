"""ONNX Runtime's dx port (dx.py, dx_runtime.py): an InferenceSession on the dx model's ONNX file,
graph optimisations on, as onnxruntime_port.py runs it."""
import onnxruntime as ort

from . import dx_runtime

FRAMEWORK = "ONNX Runtime"
MODES = ("optimized",)

_options = ort.SessionOptions()
_options.inter_op_num_threads = 1
_options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL


def version():
    return ort.__version__


def not_applicable(fault, mode):
    return dx_runtime.not_applicable(FRAMEWORK, MODES, fault, mode)


def set_threads(threads):
    _options.intra_op_num_threads = threads


def _run(request, x):
    session = ort.InferenceSession(request["onnx_model"], _options,
                                   providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"input": x})[0]


def wrong_dtype(request, window):
    return dx_runtime.wrong_dtype(request, _run)


def bad_batch(request, window):
    return dx_runtime.bad_batch(request, _run)
