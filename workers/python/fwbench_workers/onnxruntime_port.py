"""ONNX Runtime (Python) port: inference on the ONNX export of the shared model.

From PyPI (.venvs/tf, install-deps.sh); runs wherever `import onnxruntime`
works. The exported model comes in the spec's onnx_model (fwbench export --to onnx).
"""
import numpy as np
import onnxruntime as ort

from .protocol import Unsupported, UsageError, pool


def probe_modes():
    return {"optimized": ""}


class Port:
    framework = "onnxruntime"
    version = ort.__version__
    compiles = False

    def __init__(self, spec):
        self.spec = spec

    def check_supported(self):
        s = self.spec
        if s["mode"] != "optimized":
            raise UsageError(f"onnxruntime has no mode '{s['mode']}' (supported: optimized)")
        if s["task"] != "infer":
            raise Unsupported("onnxruntime runs inference only (supported: infer)")
        if s["precision"] != "fp32" or s["memory_format"] != "contiguous":
            raise UsageError("onnxruntime runs the fp32 export with contiguous inputs (supported: "
                              "precision fp32, memory_format contiguous)")
        if not s["onnx_model"]:
            raise UsageError("spec field onnx_model is empty: this worker runs an ONNX model")

    def set_threads(self, threads):
        # One intra-op pool; sequential execution leaves the inter-op pool unused, pinned to 1.
        # Its threads spin between operators by default: kept (as PyTorch's OpenMP team spins),
        # but set explicitly so that the choice is ours, not a version's default.
        self.options = ort.SessionOptions()
        self.options.intra_op_num_threads = threads
        self.options.inter_op_num_threads = 1
        self.options.add_session_config_entry("session.intra_op.allow_spinning", "1")
        return [pool("onnxruntime intra-op (SessionOptions.intra_op_num_threads)", "compute",
                     threads, self.options.intra_op_num_threads),
                pool("onnxruntime inter-op (SessionOptions.inter_op_num_threads)", "pinned", 1,
                     self.options.inter_op_num_threads)]

    def init(self):
        self.options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL

    def build(self):
        providers = (["CUDAExecutionProvider"] if self.spec["device"] == "cuda"
                     else ["CPUExecutionProvider"])
        self.session = ort.InferenceSession(self.spec["onnx_model"], self.options,
                                            providers=providers)
        used = self.session.get_session_options()
        if (used.intra_op_num_threads, used.inter_op_num_threads) != (self.spec["threads"], 1):
            raise UsageError(f"onnxruntime's session runs intra-op {used.intra_op_num_threads} / "
                             f"inter-op {used.inter_op_num_threads} threads, not "
                             f"{self.spec['threads']} / 1")
        if self.session.get_providers()[0] != providers[0]:
            raise UsageError(f"device {self.spec['device']}: onnxruntime runs "
                             f"{self.session.get_providers()[0]}, not {providers[0]} (is "
                             "onnxruntime-gpu installed?)")

    def load_weights(self, tensors):
        pass  # the weights are inside the exported model

    def to_input(self, x, y):
        return np.ascontiguousarray(x), y

    def infer_step(self, x):
        self.session.run(["logits"], {"input": x})

    def logits(self, inputs):
        return self.session.run(["logits"], {"input": np.ascontiguousarray(inputs)})[0]

    def save_model(self, out_dir):
        return []
