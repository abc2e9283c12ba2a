"""The serving baseline many teams write instead of adopting TorchServe: FastAPI + uvicorn +
PyTorch loading a TorchScript file, answering KServe v2 JSON so that `fwbench load` and
`fwbench deploy` drive it exactly as they drive `fwbench serve`. Written the way such an app
usually is (no batching, one forward per request); fwbench measures it, it does not tune it.

    MODEL_PATH=repo/resnet/1/model.pt MODEL_NAME=resnet \
        python3 -m uvicorn app:app --app-dir tools/fastapi_baseline --port 8001
"""
import os

import torch
from fastapi import FastAPI, HTTPException, Request

MODEL_NAME = os.environ.get("MODEL_NAME", "model")
model = torch.jit.load(os.environ["MODEL_PATH"], map_location="cpu").eval()
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
        first = body["inputs"][0]
        x = torch.tensor(first["data"], dtype=torch.float32).reshape(first["shape"])
    except (ValueError, KeyError, IndexError, TypeError, RuntimeError) as e:
        raise HTTPException(status_code=400, detail=f"bad request: {e}")
    with torch.inference_mode():
        y = model(x)
    return {
        "model_name": MODEL_NAME,
        "outputs": [{"name": "logits", "datatype": "FP32", "shape": list(y.shape),
                     "data": y.flatten().tolist()}],
    }
