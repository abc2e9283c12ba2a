"""The dx model (dx.py) as an ONNX file, for the dx ports of the inference runtimes: built node by
node with onnx.helper rather than exported, so no training framework stands between the file
and dx.weights(). Input "input" float32 [N, 3072], output "logits" float32 [N, 10]."""
import onnx
from onnx import TensorProto, helper, numpy_helper

from . import dx
from .protocol import written_in_place_of

OPSET = 17
# The IR version opset 17 came with: a newer one (onnx's default) is refused by older readers.
IR_VERSION = 8


def model():
    w = dx.weights()
    nodes = [helper.make_node("Gemm", ["input", "hidden.weight", "hidden.bias"], ["hidden_out"],
                              name="hidden", transB=1),
             helper.make_node("Relu", ["hidden_out"], ["relu_out"], name="relu"),
             helper.make_node("Gemm", ["relu_out", "classifier.weight", "classifier.bias"],
                              ["logits"], name="classifier", transB=1)]
    graph = helper.make_graph(
        nodes, "fwbench_dx_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", dx.FEATURES])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", dx.CLASSES])],
        [numpy_helper.from_array(array, name) for name, array in w.items()])
    m = helper.make_model(graph, producer_name="fwbench dx",
                          opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = IR_VERSION
    onnx.checker.check_model(m, full_check=True)
    return m


def write_model(path):
    with written_in_place_of(path) as tmp:  # a failed write leaves no half file
        onnx.save(model(), tmp)
