"""TF Serving's PredictionService.Predict of `fwbench serve --grpc-port` as TensorFlow Serving's
own client stubs see it (tensorflow-serving-api 2.21, in .venvs/tf beside tensorflow-cpu): the
request built with tf.make_tensor_proto (tensor_content) and with typed float_val, the answer read
with tf.make_ndarray, model_spec with and without a version, output_filter, and errors. The
repository is tests/cli/linear_repository.h's: model "ts", y = x @ W.T + b with
W = [[1, 2, 3, 4], [0, 0, 0, 1]], b = [0.5, -1].

    python tf_serving_api_conformance.py HOST:PORT

Prints one JSON object {"client", "checks": [{"name", "ok", "detail"}]}; exit 0 when every check
passed.
"""
import json
import sys
from importlib.metadata import version

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

W = np.array([[1, 2, 3, 4], [0, 0, 0, 1]], dtype=np.float32)
B = np.array([0.5, -1], dtype=np.float32)
checks = []


def check(name, ok, detail=""):
    checks.append({"name": name, "ok": bool(ok), "detail": str(detail)[:400]})


stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(sys.argv[1]))
x = np.array([[1, 2, 3, 4], [0, 0, 0, 2], [-1.5, 0.25, 3, 1e-3]], dtype=np.float32)
expected = x @ W.T + B


def predict(tensor, version=None, output_filter=(), model="ts"):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = "serving_default"
    if version is not None:
        request.model_spec.version.value = version
    request.inputs["x"].CopyFrom(tensor)
    request.output_filter.extend(output_filter)
    return stub.Predict(request, timeout=30)


def error_of(call):
    try:
        call()
    except grpc.RpcError as e:
        return e
    return None


try:
    reply = predict(tf.make_tensor_proto(x))
    y = tf.make_ndarray(reply.outputs["y"])
    check("predict, tensor_content in, tf.make_ndarray out",
          y.shape == expected.shape and np.allclose(y, expected, atol=1e-5), y)
    check("model_spec answered with the latest version", reply.model_spec.name == "ts"
          and reply.model_spec.version.value == 1, reply.model_spec)
except grpc.RpcError as e:
    check("predict, tensor_content in, tf.make_ndarray out", False, e)

typed = tf.make_tensor_proto(x)
typed.ClearField("tensor_content")
typed.float_val.extend(x.flatten().tolist())
try:
    y = tf.make_ndarray(predict(typed, version=1, output_filter=["y"]).outputs["y"])
    check("predict, float_val in, version 1, output_filter y", np.allclose(y, expected, atol=1e-5),
          y)
except grpc.RpcError as e:
    check("predict, float_val in, version 1, output_filter y", False, e)

e = error_of(lambda: predict(tf.make_tensor_proto(np.zeros((1, 3), dtype=np.float32))))
check("wrong shape is INVALID_ARGUMENT naming what the model expects",
      e is not None and e.code() == grpc.StatusCode.INVALID_ARGUMENT
      and "expects [-1, 4]" in e.details(), e)
e = error_of(lambda: predict(tf.make_tensor_proto(np.zeros((1, 4), dtype=np.int64))))
check("wrong dtype is INVALID_ARGUMENT naming the model's", e is not None
      and e.code() == grpc.StatusCode.INVALID_ARGUMENT and "expects FP32" in e.details(), e)
e = error_of(lambda: predict(tf.make_tensor_proto(x), model="nope"))
check("unknown model is NOT_FOUND naming it", e is not None
      and e.code() == grpc.StatusCode.NOT_FOUND and "nope" in e.details(), e)
e = error_of(lambda: predict(tf.make_tensor_proto(x), version=7))
check("unknown version is NOT_FOUND listing the versions", e is not None
      and e.code() == grpc.StatusCode.NOT_FOUND and "versions: 1" in e.details(), e)
e = error_of(lambda: predict(tf.make_tensor_proto(x), output_filter=["z"]))
check("an output_filter of an unknown output is INVALID_ARGUMENT listing the outputs",
      e is not None and e.code() == grpc.StatusCode.INVALID_ARGUMENT and "outputs y" in e.details(),
      e)

print(json.dumps({"client": "tensorflow-serving-api " + version("tensorflow-serving-api"),
                  "checks": checks}))
sys.exit(0 if all(c["ok"] for c in checks) else 1)
