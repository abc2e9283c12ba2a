"""fwbench's TorchServe handler: tensors in, tensors out, as fwbench serve's /predictions route
and the FastAPI baseline take them. Each request's body is the input batch as a JSON nested list
([N, C, H, W] for fwbench's ResNet); the answer is the model's output rows for that request.
TorchServe batches requests (model-config.yaml: batchSize, maxBatchDelay) and this handler runs
them as one tensor. The model is loaded by TorchServe's own BaseHandler (a TorchScript file:
torch.jit.load; inference under torch.inference_mode), as a TorchServe user's handler would.

MODEL_THREADS (set by `fwbench deploy --serve-threads`, inherited from the frontend) sets
PyTorch's intra-op threads, with one inter-op thread, as every server in the comparison gets.
"""
import json
import os

import torch
from ts.torch_handler.base_handler import BaseHandler


class TensorHandler(BaseHandler):
    def initialize(self, context):
        threads = int(os.environ.get("MODEL_THREADS", "0"))
        if threads > 0:
            torch.set_num_threads(threads)
            try:
                torch.set_num_interop_threads(1)
            except RuntimeError:  # already set in this process
                pass
        self.rows = []
        super().initialize(context)

    def preprocess(self, data):
        tensors = []
        for request in data:
            body = request.get("data")
            if body is None:
                body = request.get("body")
            if isinstance(body, (bytes, bytearray)):
                body = json.loads(body)
            tensors.append(torch.tensor(body, dtype=torch.float32))
        self.rows = [t.shape[0] for t in tensors]
        return torch.cat(tensors).to(self.device)

    def postprocess(self, data):
        return [part.tolist() for part in torch.split(data, self.rows)]
