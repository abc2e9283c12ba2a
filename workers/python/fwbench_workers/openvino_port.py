"""OpenVINO port: inference on the ONNX export of the shared model.

Runs wherever `import openvino` works (.venvs/openvino, from PyPI). The exported model comes in
the spec's onnx_model. The CPU plugin would pick bf16 by itself on CPUs that have it; the port
asks for f32 (what the other backends compute in) and one stream of the spec's threads.
"""
import numpy as np
import openvino as ov

from .protocol import Unsupported, UsageError, pool


def probe_modes():
    return {"latency": ""}


class Port:
    framework = "openvino"
    version = ov.__version__.split("-")[0]
    compiles = False

    def __init__(self, spec):
        self.spec = spec

    def check_supported(self):
        s = self.spec
        if s["mode"] != "latency":
            raise UsageError(f"openvino has no mode '{s['mode']}' (supported: latency)")
        if s["task"] != "infer":
            raise Unsupported("openvino runs inference only (supported: infer)")
        if s["device"] != "cpu":
            raise Unsupported("the openvino port runs on the CPU plugin only (device cpu)")
        if s["precision"] != "fp32" or s["memory_format"] != "contiguous":
            raise UsageError("openvino runs the fp32 export with contiguous inputs (supported: "
                             "precision fp32, memory_format contiguous)")
        if not s["onnx_model"]:
            raise UsageError("spec field onnx_model is empty: this worker runs an ONNX model")

    def set_threads(self, threads):
        # The CPU plugin's one stream of INFERENCE_NUM_THREADS (its TBB arena) is the pool.
        self.core = ov.Core()
        self.core.set_property("CPU", {"INFERENCE_NUM_THREADS": threads})
        return [pool("openvino CPU (INFERENCE_NUM_THREADS)", "compute", threads,
                     self.core.get_property("CPU", "INFERENCE_NUM_THREADS"))]

    def init(self):
        self.config = {"INFERENCE_NUM_THREADS": int(self.spec["threads"]), "NUM_STREAMS": 1,
                       "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}

    def compile_model(self):
        model = self.core.read_model(self.spec["onnx_model"])
        return self.core.compile_model(model, "CPU", self.config)

    def build(self):
        self.compiled = self.compile_model()
        self.request = self.compiled.create_infer_request()
        threads = self.compiled.get_property("INFERENCE_NUM_THREADS")
        if threads != int(self.spec["threads"]):
            raise UsageError(f"openvino runs {threads} threads, not the spec's "
                             f"{self.spec['threads']}")

    def load_weights(self, tensors):
        pass  # the weights are inside the exported model

    def to_input(self, x, y):
        return np.ascontiguousarray(x), y

    def infer_step(self, x):
        self.request.infer({"input": x})

    def logits(self, inputs):
        self.request.infer({"input": np.ascontiguousarray(inputs)})
        return np.array(self.request.get_output_tensor(0).data, copy=True)

    def save_model(self, out_dir):
        return []


# --- the user's own ONNX model (workload user_model, docs/your-model.md) --------------------

MODEL_FORMATS = ("onnx",)


class ModelPort(Port):
    def check_supported(self):
        s, um = self.spec, self.spec["user_model"]
        if um["format"] not in MODEL_FORMATS:
            raise Unsupported(f"the openvino port reads ONNX files here, not {um['format']}")
        if s["mode"] != "latency":
            raise UsageError(f"openvino has no mode '{s['mode']}' (supported: latency)")
        if s["task"] != "infer" or s["precision"] != "fp32" or s["device"] != "cpu":
            raise Unsupported("openvino runs the model as it is on the CPU plugin (task infer, "
                              "precision fp32, device cpu)")

    def compile_model(self):
        # A user's model may hold what the plugin rejects: a finding, not a usage error.
        try:
            model = self.core.read_model(self.spec["user_model"]["file"])
            return self.core.compile_model(model, "CPU", self.config)
        except RuntimeError as e:
            raise Unsupported(f"OpenVINO {self.version} cannot run the model: "
                              f"{str(e).strip().splitlines()[-1]}") from e

    def to_feeds(self, feeds):
        return feeds

    def infer_step(self, feeds):
        self.request.infer(feeds)

    def first_output(self, feeds):
        self.request.infer(feeds)
        return np.array(self.request.get_output_tensor(0).data, copy=True)
