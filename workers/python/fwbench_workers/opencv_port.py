"""OpenCV DNN port: inference on the ONNX export of the shared model with cv2.dnn (Debian's
python3-opencv), the portability check "does a second, independent ONNX runtime load and run
the export the same way?".
"""
import cv2
import numpy as np

from .protocol import Unsupported, UsageError, pool


def probe_modes():
    return {"default": ""}


def _reason(text):
    """The operator and the failed check from a cv2.error, e.g. "node Identity
    (onnx_node!Identity_0): Assertion failed: inputs.size() in getMemoryShapes"."""
    lines = [ln.strip("> ").strip() for ln in text.splitlines() if ln.strip("> ").strip()]
    node = next((ln for ln in lines if ln.startswith("Node [")), lines[-1] if lines else text)
    if node.startswith("Node ["):
        op = node[len("Node ["):node.find("@")]
        name = node[node.find("]:(") + 3:node.find(")", node.find("]:("))]
        detail = node.rsplit("error: ", 1)[-1]
        return f"node {op} ({name}): {detail}"
    return node


class Port:
    framework = "opencv-dnn"
    version = cv2.__version__
    compiles = False

    def __init__(self, spec):
        self.spec = spec

    def check_supported(self):
        s = self.spec
        if s["mode"] != "default":
            raise UsageError(f"opencv-dnn has no mode '{s['mode']}' (supported: default)")
        if s["task"] != "infer":
            raise Unsupported("opencv-dnn runs inference only (supported: infer)")
        if s["precision"] != "fp32" or s["memory_format"] != "contiguous" or s["device"] != "cpu":
            raise UsageError("opencv-dnn here runs the fp32 export on the CPU with contiguous "
                              "inputs (supported: fp32, contiguous, cpu)")
        if not s["onnx_model"]:
            raise UsageError("spec field onnx_model is empty: this worker runs an ONNX model")

    def set_threads(self, threads):
        cv2.setNumThreads(threads)  # cv2.dnn's parallel_for pool (TBB in Debian's build)
        return [pool("opencv (cv2.getNumThreads)", "compute", threads, cv2.getNumThreads())]

    def init(self):
        pass

    def model_file(self):
        """The file to load, and how a failure names it."""
        return self.spec["onnx_model"], "the ONNX export"

    def build(self):
        path, what = self.model_file()
        try:
            self.net = cv2.dnn.readNetFromONNX(path)
        except cv2.error as e:
            raise Unsupported(f"OpenCV {cv2.__version__} cannot load {what}: "
                              f"{_reason(str(e))}") from e
        self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)

    def load_weights(self, tensors):
        pass  # the weights are inside the exported model

    def to_input(self, x, y):
        return np.ascontiguousarray(x), y

    def _run(self, x):
        self.net.setInput(x)
        return self.net.forward()

    def infer_step(self, x):
        self._run(x)

    def logits(self, inputs):
        return np.array(self._run(np.ascontiguousarray(inputs)), dtype=np.float32)

    def save_model(self, out_dir):
        return []


# --- the user's own ONNX model (workload user_model, docs/your-model.md) --------------------

MODEL_FORMATS = ("onnx",)


class ModelPort(Port):
    def check_supported(self):
        s, um = self.spec, self.spec["user_model"]
        if um["format"] not in MODEL_FORMATS:
            raise Unsupported(f"opencv-dnn loads ONNX files, not {um['format']}")
        if s["mode"] != "default":
            raise UsageError(f"opencv-dnn has no mode '{s['mode']}' (supported: default)")
        if s["task"] != "infer" or s["precision"] != "fp32" or s["device"] != "cpu":
            raise Unsupported("opencv-dnn runs the model as it is on the CPU (task infer, "
                              "precision fp32, device cpu)")

    def model_file(self):
        path = self.spec["user_model"]["file"]
        return path, path

    def to_feeds(self, feeds):
        return feeds

    def _run_feeds(self, feeds):
        for name, x in feeds.items():
            self.net.setInput(x, name)
        try:
            return self.net.forward()
        except cv2.error as e:
            raise Unsupported(f"OpenCV {cv2.__version__} cannot run the model: "
                              f"{_reason(str(e))}") from e

    def infer_step(self, feeds):
        self._run_feeds(feeds)

    def first_output(self, feeds):
        return np.array(self._run_feeds(feeds), dtype=np.float32)
