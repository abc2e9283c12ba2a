"""ONNX Runtime (Python) port: inference on the ONNX export of the shared model.

From PyPI (.venvs/tf, install-deps.sh); runs wherever `import onnxruntime`
works. The exported model comes in the spec's onnx_model (fwbench export --to onnx).
"""
import numpy as np
import onnxruntime as ort

from .protocol import Unsupported, UsageError, pool


def probe_modes():
    return {"optimized": ""}


def session_options(threads):
    """The session options of every ONNX Runtime trial here (this port's and the LLM export
    matrix's, onnxruntime_llm_run.py). One intra-op pool; sequential execution leaves the
    inter-op pool unused, pinned to 1. Its threads spin between operators by default: kept (as
    PyTorch's OpenMP team spins), but set explicitly so that the choice is ours, not a
    version's default."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


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
        self.options = session_options(threads)
        return [pool("onnxruntime intra-op (SessionOptions.intra_op_num_threads)", "compute",
                     threads, self.options.intra_op_num_threads),
                pool("onnxruntime inter-op (SessionOptions.inter_op_num_threads)", "pinned", 1,
                     self.options.inter_op_num_threads)]

    def init(self):
        pass  # session_options (set_threads) holds the whole configuration

    def model_file(self):
        return self.spec["onnx_model"]

    def build(self):
        providers = (["CUDAExecutionProvider"] if self.spec["device"] == "cuda"
                     else ["CPUExecutionProvider"])
        self.session = ort.InferenceSession(self.model_file(), self.options,
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


# --- the user's own ONNX model (workload user_model, docs/your-model.md) --------------------

MODEL_FORMATS = ("onnx",)
_ORT_DTYPES = {"tensor(float)": "float32", "tensor(double)": "float64",
               "tensor(float16)": "float16", "tensor(int64)": "int64", "tensor(int32)": "int32",
               "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(bool)": "bool"}


def _values(args):
    return [{"name": a.name, "dtype": _ORT_DTYPES.get(a.type, a.type),
             "shape": [d if isinstance(d, int) and d >= 0 else (d if isinstance(d, str) else None)
                       for d in (a.shape or [])]} for a in args]


def describe_model(path):
    """The inputs and outputs ONNX Runtime reads from the model: the reference runtime of an
    ONNX file decides what the model takes."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - ORT raises several types for a bad file
        raise UsageError(f"{path}: ONNX Runtime {ort.__version__} cannot load it: "
                         f"{str(e).splitlines()[0] if str(e) else repr(e)}") from e
    return {"runtime": f"onnxruntime {ort.__version__}", "inputs": _values(session.get_inputs()),
            "outputs": _values(session.get_outputs())}


class ModelPort(Port):
    def check_supported(self):
        s, um = self.spec, self.spec["user_model"]
        if um["format"] not in MODEL_FORMATS:
            raise Unsupported(f"onnxruntime loads ONNX files, not {um['format']}")
        if s["mode"] != "optimized":
            raise UsageError(f"onnxruntime has no mode '{s['mode']}' (supported: optimized)")
        if s["task"] != "infer" or s["precision"] != "fp32":
            raise Unsupported("onnxruntime runs the model as it is (task infer, precision fp32)")

    def model_file(self):
        return self.spec["user_model"]["file"]

    def build(self):
        super().build()
        self.output = self.session.get_outputs()[0].name

    def to_feeds(self, feeds):
        return feeds

    def infer_step(self, feeds):
        self.session.run([self.output], feeds)

    def first_output(self, feeds):
        return self.session.run([self.output], feeds)[0]
