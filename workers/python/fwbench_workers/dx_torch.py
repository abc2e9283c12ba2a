"""PyTorch's dx port (dx.py): the MLP as an nn.Module, trained eagerly (mode eager) or through
torch.compile (mode compiled); data through torch.utils.data; export with torch.onnx (dynamo)."""
import os
import tempfile

import torch

from . import dx
from .torch_setup import set_torch_threads

FRAMEWORK = "PyTorch"
MODES = ("eager", "compiled")


def version():
    return torch.__version__


def not_applicable(fault, mode):
    if fault == "export_unsupported" and mode in MODES[1:]:
        return dx.EXPORT_IN_FIRST_MODE.format(MODES[0])
    return dx.other_mode(FRAMEWORK, MODES, mode)


def set_threads(threads):
    return set_torch_threads(threads)


class Mlp(torch.nn.Module):
    def __init__(self, classifier_in=dx.HIDDEN):
        super().__init__()
        self.hidden = torch.nn.Linear(dx.FEATURES, dx.HIDDEN)
        self.classifier = torch.nn.Linear(classifier_in, dx.CLASSES)

    def forward(self, x):
        return self.classifier(torch.relu(self.hidden(x)))


class CholeskyMlp(Mlp):
    """A layer a model might hold (whitening by a Cholesky factor) that ONNX has no op for."""

    def forward(self, x):
        h = torch.relu(self.hidden(x))
        gram = h.T @ h / h.shape[0] + torch.eye(h.shape[1])
        return self.classifier(h @ torch.linalg.cholesky(gram))


def _model(cls=Mlp, classifier_in=dx.HIDDEN):
    model = cls(classifier_in)
    if classifier_in == dx.HIDDEN:
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(torch.from_numpy(dx.weights()[name]))
    return model


def _train(request, window, model, lr, batches, steps):
    forward = torch.compile(model) if request["mode"] == "compiled" else model
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for i, (x, y) in zip(range(steps), batches):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(forward(x), y)
        loss.backward()
        opt.step()
        window.step(i, loss.item())


def shape_mismatch(request, window):
    _train(request, window, _model(classifier_in=dx.WRONG_IN_FEATURES), dx.LR,
           dx.batches(torch.from_numpy), 4)


def exploding_loss(request, window):
    _train(request, window, _model(), dx.EXPLODING_LR, dx.batches(torch.from_numpy),
           dx.MAX_STEPS)
    return f"the loss stayed finite for {dx.MAX_STEPS} steps"


def exploding_loss_checked(request, window):
    with torch.autograd.detect_anomaly():
        return exploding_loss(request, window)


class Samples(torch.utils.data.Dataset):
    def __len__(self):
        return dx.SAMPLES

    def __getitem__(self, n):
        return torch.from_numpy(dx.bad_sample(n)), dx.label(n)


def bad_batch(request, window):
    loader = torch.utils.data.DataLoader(Samples(), batch_size=dx.BATCH, shuffle=False)
    _train(request, window, _model(), dx.LR, iter(loader), dx.SAMPLES // dx.BATCH)
    return "every batch trained"


def wrong_dtype(request, window):
    model = _model().eval()
    forward = torch.compile(model) if request["mode"] == "compiled" else model
    with torch.no_grad():
        out = forward(torch.from_numpy(dx.raw_pixels(dx.batch(0)[0])))
    return f"inference ran on the uint8 pixels: logits {tuple(out.shape)} {out.dtype}"


def export_unsupported(request, window):
    out = tempfile.mkdtemp(dir=os.path.dirname(request["error_file"]))
    torch.onnx.export(_model(CholeskyMlp), (torch.from_numpy(dx.batch(0)[0]),),
                      os.path.join(out, "model.onnx"), dynamo=True)
    return "exported"
