"""OpenCV DNN's dx port (dx.py, dx_runtime.py): cv2.dnn.readNetFromONNX on the dx model's ONNX
file, OpenCV's own backend on the CPU, as opencv_port.py runs it."""
import cv2

from . import dx_runtime

FRAMEWORK = "OpenCV DNN"
MODES = ("default",)


def version():
    return cv2.__version__


def not_applicable(fault, mode):
    return dx_runtime.not_applicable(FRAMEWORK, MODES, fault, mode)


def set_threads(threads):
    cv2.setNumThreads(threads)


def _run(request, x):
    net = cv2.dnn.readNetFromONNX(request["onnx_model"])
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    net.setInput(x)
    return net.forward()


def wrong_dtype(request, window):
    return dx_runtime.wrong_dtype(request, _run)


def bad_batch(request, window):
    return dx_runtime.bad_batch(request, _run)
