"""KServe v2 conformance of `fwbench serve` as NVIDIA Triton's own Python client sees it
(tritonclient, .venvs/clients): health, server and model metadata, inference with JSON and with
binary tensors (inputs and outputs), and errors. The repository is tests/cli/linear_repository.h's:
model "ts", y = x @ W.T + b with W = [[1, 2, 3, 4], [0, 0, 0, 1]], b = [0.5, -1].

    python tritonclient_conformance.py http HOST:PORT
    python tritonclient_conformance.py grpc HOST:PORT

Over gRPC, tritonclient sends tensors as raw bytes (raw_input_contents) and reads them back from
raw_output_contents, the counterpart of HTTP's binary tensors; the counterpart of JSON tensors,
typed lists (contents.fp32_contents), is sent through the client's own generated stub
(tritonclient.grpc.service_pb2), which tritonclient's API does not expose.

Prints one JSON object {"client", "checks": [{"name", "ok", "detail"}]}; exit 0 when every check
passed.
"""
import json
import sys

import numpy as np

PROTOCOL, URL = sys.argv[1], sys.argv[2]
if PROTOCOL == "http":
    import tritonclient.http as client_lib
else:
    import tritonclient.grpc as client_lib
from tritonclient.utils import InferenceServerException

W = np.array([[1, 2, 3, 4], [0, 0, 0, 1]], dtype=np.float32)
B = np.array([0.5, -1], dtype=np.float32)
checks = []


def check(name, ok, detail=""):
    checks.append({"name": name, "ok": bool(ok), "detail": str(detail)[:400]})


def error_of(call):
    try:
        call()
    except InferenceServerException as e:
        return e
    return None


GRPC = PROTOCOL != "http"
AS_JSON = {"as_json": True} if GRPC else {}  # gRPC answers protobuf messages unless asked

client = client_lib.InferenceServerClient(url=URL)
check("server live", client.is_server_live())
check("server ready", client.is_server_ready())
check("model ready", client.is_model_ready("ts"))
check("unknown model not ready", not client.is_model_ready("nope"))
server = client.get_server_metadata(**AS_JSON)
check("server metadata", server.get("name") and "version" in server, server)
meta = client.get_model_metadata("ts", **AS_JSON)
inputs = meta.get("inputs", [])
check("model metadata inputs",
      len(inputs) == 1 and inputs[0]["name"] == "x" and inputs[0]["datatype"] == "FP32"
      and [int(d) for d in inputs[0]["shape"]] == [-1, 4], meta)
outputs = meta.get("outputs", [])
check("model metadata outputs", len(outputs) == 1 and outputs[0]["name"] == "y", meta)

x = np.array([[1, 2, 3, 4], [0, 0, 0, 2], [-1.5, 0.25, 3, 1e-3]], dtype=np.float32)
expected = x @ W.T + B
for binary_in in (False, True):
    for binary_out in (False, True):
        name = f"infer, {'binary' if binary_in else 'JSON'} input, " \
               f"{'binary' if binary_out else 'JSON'} output"
        inp = client_lib.InferInput("x", list(x.shape), "FP32")
        out = client_lib.InferRequestedOutput("y", binary_data=binary_out) \
            if PROTOCOL == "http" else client_lib.InferRequestedOutput("y")
        if PROTOCOL == "http":
            inp.set_data_from_numpy(x, binary_data=binary_in)
        else:
            inp.set_data_from_numpy(x)
        try:
            result = client.infer("ts", [inp], outputs=[out], request_id="r-42")
            y = result.as_numpy("y")
            check(name, y is not None and y.shape == expected.shape
                  and np.allclose(y, expected, atol=1e-5), y)
            check(name + ": id echoed", result.get_response(**AS_JSON).get("id") == "r-42")
        except InferenceServerException as e:
            check(name, False, e)
        if PROTOCOL != "http":
            break
    if PROTOCOL != "http":
        break

if GRPC:
    # Typed contents, not raw bytes: the request as a client without tritonclient builds it.
    from tritonclient.grpc import service_pb2, service_pb2_grpc
    import grpc
    stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(URL))
    request = service_pb2.ModelInferRequest(model_name="ts", id="typed")
    tensor = request.inputs.add(name="x", datatype="FP32", shape=list(x.shape))
    tensor.contents.fp32_contents.extend(x.flatten().tolist())
    try:
        reply = stub.ModelInfer(request)
        y = np.frombuffer(reply.raw_output_contents[0], dtype=np.float32).reshape(
            [int(d) for d in reply.outputs[0].shape])
        check("infer, typed contents input (fp32_contents), raw output",
              reply.id == "typed" and y.shape == expected.shape
              and np.allclose(y, expected, atol=1e-5), y)
    except grpc.RpcError as e:
        check("infer, typed contents input (fp32_contents), raw output", False, e)
    request.inputs[0].contents.fp32_contents.pop()
    try:
        stub.ModelInfer(request)
        check("typed contents one value short is INVALID_ARGUMENT naming the count", False)
    except grpc.RpcError as e:
        check("typed contents one value short is INVALID_ARGUMENT naming the count",
              e.code() == grpc.StatusCode.INVALID_ARGUMENT and "holds 12 values" in e.details()
              and "has 11" in e.details(), e)

bad_shape = client_lib.InferInput("x", [1, 3], "FP32")
bad_shape.set_data_from_numpy(np.zeros((1, 3), dtype=np.float32))
e = error_of(lambda: client.infer("ts", [bad_shape]))
check("wrong shape is an error naming what the model expects",
      e is not None and "expects [-1, 4]" in e.message(), e)
good = client_lib.InferInput("x", [1, 4], "FP32")
good.set_data_from_numpy(np.zeros((1, 4), dtype=np.float32))
e = error_of(lambda: client.infer("nope", [good]))
check("unknown model is an error naming it", e is not None and "nope" in e.message(), e)
e = error_of(lambda: client.get_model_metadata("nope"))
check("metadata of an unknown model is an error", e is not None, e)
wrong_name = client_lib.InferInput("z", [1, 4], "FP32")
wrong_name.set_data_from_numpy(np.zeros((1, 4), dtype=np.float32))
e = error_of(lambda: client.infer("ts", [wrong_name]))
check("unknown input is an error listing the model's inputs",
      e is not None and "x FP32 [-1, 4]" in e.message(), e)

print(json.dumps({"client": f"tritonclient {client_lib.__name__}", "checks": checks}))
sys.exit(0 if all(c["ok"] for c in checks) else 1)
