"""An exported LLM step (llm_export.py) as an ONNX file in ONNX Runtime's Python API: the image
port's session options (onnxruntime_port.session_options), the caches kept as the OrtValues
the session returns and fed back as they are (run_with_ort_values), so that no step copies them
into numpy and back, as the LibTorch, TensorFlow and Node runners keep theirs."""
import numpy as np
import onnxruntime as ort

from .llm_export import Step
from .onnxruntime_port import session_options

RUNTIME = f"onnxruntime {ort.__version__} (Python)"


class OrtStep(Step):
    runtime = RUNTIME

    def __init__(self, path, threads):
        self.session = ort.InferenceSession(path, session_options(threads),
                                            providers=["CPUExecutionProvider"])
        # By position: a converter may name them otherwise (tf2onnx's "tokens:0").
        self.inputs = [i.name for i in self.session.get_inputs()]
        if len(self.inputs) != 4 or len(self.session.get_outputs()) != 3:
            raise ValueError(f"{path}: expected the step's 4 inputs and 3 outputs, found "
                             f"{self.inputs} and {[o.name for o in self.session.get_outputs()]}")

    def tokens(self, array):
        return ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array, dtype=np.int64))

    def zeros(self, shape):
        return ort.OrtValue.ortvalue_from_numpy(np.zeros(shape, dtype=np.float32))

    def start(self, position):
        return ort.OrtValue.ortvalue_from_numpy(np.array([position], dtype=np.int64))

    def __call__(self, tokens, keys, values, start):
        logits, keys, values = self.session.run_with_ort_values(
            None, dict(zip(self.inputs, (tokens, keys, values, start))))
        return logits, keys, values

    def argmax(self, logits):
        return int(np.argmax(logits.numpy()[0]))

    def numpy(self, logits):
        return np.asarray(logits.numpy(), dtype=np.float32)


def open_step(request):
    return OrtStep(request["file"], int(request.get("threads", 1)))
