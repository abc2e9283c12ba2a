"""The serving baseline many teams write instead of adopting TorchServe: FastAPI + uvicorn +
the model's own framework, answering KServe v2 JSON so that `fwbench load` and `fwbench deploy`
drive it exactly as they drive `fwbench serve`. Written the way such an app usually is (no
batching, one forward per request); fwbench measures it, it does not tune it.

    MODEL_PATH=repo/resnet/1/model.pt MODEL_NAME=resnet \
        python3 -m uvicorn app:app --app-dir tools/fastapi_baseline --port 8001

MODEL_FORMAT picks the loader (default torchscript): torchscript, exported_program (.pt2),
pytorch_module (MODEL_ENTRY=pkg.mod:factory, imported from MODEL_IMPORT_PATH after
torch.manual_seed(MODEL_SEED)), onnx (ONNX Runtime), keras (.keras, Keras 3) or savedmodel
(TensorFlow, its serving_default signature). MODEL_INPUTS names the inputs in the model's order
(default: the request's order); MODEL_OUTPUT names the answer's first output (default logits).
MODEL_THREADS sets the framework's compute threads (inter-op pools to 1), as `fwbench serve
--threads` does; unset, the framework's default.
"""
import importlib
import os
import sys

import numpy as np
from fastapi import FastAPI, HTTPException, Request

MODEL_NAME = os.environ.get("MODEL_NAME", "model")
MODEL_PATH = os.environ.get("MODEL_PATH", "")
FORMAT = os.environ.get("MODEL_FORMAT", "torchscript")
INPUTS = [n for n in os.environ.get("MODEL_INPUTS", "").split(",") if n]
OUTPUT = os.environ.get("MODEL_OUTPUT", "logits")
DTYPES = {"FP32": np.float32, "INT64": np.int64, "INT32": np.int32}
THREADS = int(os.environ.get("MODEL_THREADS", "0"))


def _tf_threads():
    import tensorflow as tf
    if THREADS > 0:
        tf.config.threading.set_intra_op_parallelism_threads(THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    return tf


def _torch_model():
    import torch
    if THREADS > 0:
        torch.set_num_threads(THREADS)
        torch.set_num_interop_threads(1)
    if FORMAT == "torchscript":
        model = torch.jit.load(MODEL_PATH, map_location="cpu")
    elif FORMAT == "exported_program":
        model = torch.export.load(MODEL_PATH).module()
    else:
        sys.path.insert(0, os.environ.get("MODEL_IMPORT_PATH", "."))
        module_name, _, attr = os.environ["MODEL_ENTRY"].partition(":")
        torch.manual_seed(int(os.environ.get("MODEL_SEED", "0")))
        factory = getattr(importlib.import_module(module_name), attr)
        model = factory() if not isinstance(factory, torch.nn.Module) else factory
    model.eval()

    def run(arrays):
        with torch.inference_mode():
            out = model(*[torch.from_numpy(a) for a in arrays])
        if isinstance(out, dict):
            out = tuple(out.values())
        return [o.float().numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]
    return run


def _onnx_model():
    import onnxruntime as ort
    options = ort.SessionOptions()
    if THREADS > 0:
        options.intra_op_num_threads, options.inter_op_num_threads = THREADS, 1
    session = ort.InferenceSession(MODEL_PATH, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda arrays: session.run(None, dict(zip(names, arrays)))


def _keras_model():
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if os.environ["KERAS_BACKEND"] == "tensorflow":
        _tf_threads()
    import keras
    model = keras.saving.load_model(MODEL_PATH, compile=False)

    def run(arrays):
        out = model.predict_on_batch(arrays[0] if len(arrays) == 1 else arrays)
        if isinstance(out, dict):
            out = [out[k] for k in sorted(out)]
        return [np.asarray(o) for o in (out if isinstance(out, (tuple, list)) else (out,))]
    return run


def _savedmodel():
    tf = _tf_threads()
    signature = tf.saved_model.load(MODEL_PATH).signatures["serving_default"]
    names = sorted(signature.structured_input_signature[1])

    def run(arrays):
        out = signature(**{n: tf.constant(a) for n, a in zip(names, arrays)})
        return [out[k].numpy() for k in sorted(out)]
    return run


LOADERS = {"torchscript": _torch_model, "exported_program": _torch_model,
           "pytorch_module": _torch_model, "onnx": _onnx_model, "keras": _keras_model,
           "savedmodel": _savedmodel}
if FORMAT not in LOADERS:
    sys.exit(f"MODEL_FORMAT={FORMAT}: expected one of {', '.join(LOADERS)}")
run_model = LOADERS[FORMAT]()
app = FastAPI()


@app.get("/v2/health/ready")
def ready():
    return {"ready": True}


@app.post("/v2/models/{name}/infer")
async def infer(name: str, request: Request):
    if name != MODEL_NAME:
        raise HTTPException(status_code=404, detail=f"model '{name}' is not served here")
    try:
        body = await request.json()
        given = {i["name"]: np.asarray(i["data"], dtype=DTYPES[i["datatype"]]).reshape(i["shape"])
                 for i in body["inputs"]}
        arrays = [given[n] for n in INPUTS] if INPUTS else list(given.values())
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise HTTPException(status_code=400, detail=f"bad request: {e!r}")
    outputs = run_model(arrays)
    return {
        "model_name": MODEL_NAME,
        "outputs": [{"name": OUTPUT if i == 0 else f"output_{i}", "datatype": "FP32",
                     "shape": list(o.shape), "data": o.astype(np.float32).ravel().tolist()}
                    for i, o in enumerate(outputs)],
    }
