"""PyTorch (Python) port of the image-classification workload.

Modes: eager; torchscript (torch.jit.trace, then freeze + optimize_for_inference for
inference, the profiling executor for training, like libtorch/compiled); compiled
(torch.compile, PyTorch >= 2.0). Model: torchvision's ResNet with the CIFAR stem swapped in.
"""
import copy
import os

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

from .protocol import Unsupported, UsageError, written_in_place_of
from . import llama_files, torch_llm, torch_setup
from .torch_setup import TorchSetup
from .torch_llm import LLM_MODES, LlmPort  # noqa: F401 - the llm_lora workload of this port

# The boilerplate metric counts the PyTorch set-up (threads, device) with each port.
PORT_FILES = [__file__, torch_setup.__file__]
LLM_PORT_FILES = [torch_llm.__file__, llama_files.__file__, torch_setup.__file__]

MODES = ("eager", "torchscript", "compiled")
PRECISIONS = ("fp32", "bf16")
MEMORY_FORMATS = ("contiguous", "channels_last")


def build_resnet(arch, stem, num_classes):
    if arch not in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"):
        raise UsageError(f"unknown model.arch '{arch}' (resnet18, resnet34, resnet50, resnet101, "
                         "resnet152)")
    model = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
    if stem == "cifar":
        model.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = torch.nn.Identity()
    elif stem != "imagenet":
        raise UsageError(f"unknown model.stem '{stem}' (cifar, imagenet)")
    return model


def probe_modes():
    """{mode: why it cannot run here, or ""}."""
    major = int(torch.__version__.split(".")[0])
    return {"eager": "", "torchscript": "",
            "compiled": "" if major >= 2 else
            f"torch.compile needs PyTorch >= 2.0; this is {torch.__version__}"}


# Task train_ddp: DistributedDataParallel on Gloo, eager.
DDP_MODES = ("eager",)
DDP_COLLECTIVES = "torch.distributed gloo (DistributedDataParallel)"


class Port(TorchSetup):
    framework = "pytorch"
    version = torch.__version__

    def __init__(self, spec):
        self.spec = spec
        self.train = spec["task"] in ("train", "train_ddp")
        self.peers = None
        self.mode = spec["mode"]
        self.dtype = torch.bfloat16 if spec["precision"] == "bf16" else torch.float32
        self.format = (torch.channels_last if spec["memory_format"] == "channels_last"
                       else torch.contiguous_format)
        self.compiles = self.mode in ("torchscript", "compiled")
        self.forward = None

    def check_supported(self):
        if self.mode not in MODES:
            raise UsageError(f"pytorch has no mode '{self.mode}' (supported: {', '.join(MODES)})")
        if probe_modes()[self.mode]:
            raise Unsupported(probe_modes()[self.mode] + " (use mode torchscript, or a PyTorch "
                              "2.x install)")
        if self.mode == "torchscript" and self.train and self.spec["precision"] != "fp32":
            raise UsageError("pytorch/torchscript training runs in fp32 only: autocast is not "
                              "captured by the tracer. Supported: eager train fp32|bf16, "
                              "torchscript train fp32, eager and torchscript infer fp32|bf16")
        self.check_device()

    def build(self):
        m = self.spec["model"]
        self.model = build_resnet(m["arch"], m["stem"], m["num_classes"]).to(self.device)

    def load_weights(self, tensors):
        state = {k: torch.from_numpy(v) for k, v in tensors.items()}
        try:
            self.model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise UsageError(f"{self.spec['weights']}: does not fit the model: {e}") from e
        if not self.train:
            self.model.to(self.dtype)
        self.model.to(memory_format=self.format)
        self.model.train(self.train)
        self.forward = self.model
        if self.peers is not None:
            # The wrapper PyTorch users train with: gradients averaged in buckets, overlapped
            # with the backward pass; BatchNorm buffers broadcast from rank 0 (its default).
            self.forward = self.model = torch.nn.parallel.DistributedDataParallel(self.model)
        if self.train:
            o = self.spec["optimizer"]
            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=o["lr"],
                                             momentum=o["momentum"],
                                             weight_decay=o["weight_decay"])

    def init_ddp(self, peers):
        import datetime

        import torch.distributed as dist
        host, port = peers.master
        # Gloo binds GLOO_SOCKET_IFNAME, which ddp-launch sets to the ranks' link.
        dist.init_process_group("gloo", init_method=f"tcp://{host}:{port}", rank=peers.rank,
                                world_size=peers.world,
                                timeout=datetime.timedelta(seconds=self.spec["budget"]
                                                           ["max_seconds"] + 60))
        self.peers = peers

    def to_input(self, x, y):
        dtype = torch.float32 if self.train else self.dtype
        xt = torch.from_numpy(x).to(self.device, dtype).contiguous(memory_format=self.format)
        return xt, torch.from_numpy(y).to(self.device)

    def compile(self, example, check):
        x, _ = self.to_input(*example)
        x2, _ = self.to_input(*check)
        # Tracing and checking in training mode move BatchNorm's running statistics; restore
        # them so the compiled run starts from exactly the eager state.
        saved = {k: v.clone() for k, v in self.model.state_dict().items()}
        with torch.no_grad():
            if self.mode == "torchscript":
                traced = torch.jit.trace(self.model, x, check_trace=False)
                tol_a, tol_r = (1e-4, 1e-4) if self.dtype == torch.float32 else (0.1, 0.05)
                got, want = traced(x2).float(), self.model(x2).float()
                if not torch.allclose(got, want, atol=tol_a, rtol=tol_r):
                    raise Unsupported(
                        "the traced graph does not reproduce the eager model (max |traced - "
                        f"eager| = {(got - want).abs().max().item():.3g} on a second input): its "
                        "forward probably has data-dependent control flow")
                self.traced = traced
                self.forward = traced if self.train else torch.jit.optimize_for_inference(
                    torch.jit.freeze(traced.eval()))
        if self.mode == "compiled":
            self.forward = torch.compile(self.model)
            if self.train:
                # One real training step (forward, backward, update, under the step's autocast)
                # so that compilation of both graphs happens here, not in timed step 0; then
                # the weights, BatchNorm statistics and optimizer state go back.
                optimizer_state = copy.deepcopy(self.optimizer.state_dict())
                self.train_step(x, self.to_input(*example)[1])
                self.optimizer.load_state_dict(optimizer_state)
                self.optimizer.zero_grad()
            else:
                with torch.inference_mode():
                    self.forward(x)
        self.model.load_state_dict(saved)
        self._sync()

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def train_step(self, x, y):
        self.optimizer.zero_grad()
        with torch.autocast(self.device.type, dtype=torch.bfloat16,
                            enabled=self.dtype == torch.bfloat16):
            logits = self.forward(x)
        loss = F.cross_entropy(logits.float(), y)
        loss.backward()
        self.optimizer.step()
        return loss.item()  # .item() synchronises a GPU

    def infer_step(self, x):
        with torch.inference_mode():
            self.forward(x)
        self._sync()

    def logits(self, inputs):
        x, _ = self.to_input(inputs, np.zeros(len(inputs), dtype=np.int64))
        with torch.inference_mode():
            return self.forward(x).float().cpu().numpy()

    def save_model(self, out_dir):
        if self.mode != "torchscript":
            return []
        path = os.path.join(out_dir, "model.torchscript.pt")
        self.traced.eval().save(path)
        return [("torchscript", path)]


# --- the user's own PyTorch module (workload user_model, docs/your-model.md) ---------------

MODEL_FORMATS = ("pytorch_module", "torchscript", "exported_program")
MODEL_MODES = MODES  # eager, and the module traced (TorchScript) or compiled (torch.compile)
# A TorchScript file runs as loaded ("eager") or frozen and optimised for inference; torch.compile
# does not compile TorchScript.
MODEL_FORMAT_MODES = {"torchscript": ("eager", "torchscript")}
_TORCH_DTYPES = {"float32": torch.float32, "int64": torch.int64, "int32": torch.int32}


def load_module(entry, import_path=""):
    """The user's nn.Module from "pkg.mod:factory" (a callable returning it, or the module
    object itself), in eval mode. Callers seed torch first (the trial's seed): a factory that
    initialises weights at random then builds the same module in every process."""
    import importlib
    import sys
    name, _, attr = entry.partition(":")
    if not name or not attr:
        raise UsageError(f"--model-py {entry}: expected MODULE:FACTORY, e.g. mypkg.models:build")
    if import_path and import_path not in sys.path:
        sys.path.insert(0, import_path)
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as e:
        raise UsageError(f"--model-py {entry}: cannot import {name} ({e}); run fwbench from the "
                         "folder that holds it, or put that folder on PYTHONPATH") from e
    except Exception as e:  # noqa: BLE001 - the user's code may raise anything
        raise UsageError(f"--model-py {entry}: importing {name} raised {type(e).__name__}: "
                         f"{e}") from e
    factory = getattr(module, attr, None)
    if factory is None:
        raise UsageError(f"--model-py {entry}: {name} has no attribute {attr}")
    try:
        model = factory() if callable(factory) and not isinstance(factory, torch.nn.Module) \
            else factory
    except Exception as e:  # noqa: BLE001
        raise UsageError(f"--model-py {entry}: {attr}() raised {type(e).__name__}: {e}") from e
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"--model-py {entry}: {attr} gave a {type(model).__name__}, not a "
                         "torch.nn.Module")
    return model.eval()


def _load_file(path, fmt, program=False):
    """A TorchScript archive (torch.jit.load, in eval mode) or a torch.export program
    (torch.export.load: its module, or with `program` the ExportedProgram itself)."""
    try:
        if fmt == "torchscript":
            return torch.jit.load(path, map_location="cpu").eval()
        loaded = torch.export.load(path)
        return loaded if program else loaded.module()
    except Exception as e:  # noqa: BLE001 - the loaders raise several types for a bad file
        said = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
        what = "torch.jit.load" if fmt == "torchscript" else "torch.export.load"
        raise UsageError(f"{path}: PyTorch {torch.__version__} cannot load it ({what}): "
                         f"{said}") from e


def _file_format(path):
    return "exported_program" if path.endswith(".pt2") else "torchscript"


def describe_model(model, import_path=""):
    """A module declares its inputs' names (forward's required positional parameters) but not
    their dtypes or shapes: those come from the plan's --input declarations. So does a
    TorchScript file (its forward's schema); a torch.export program declares all three."""
    import inspect
    if os.path.isfile(model):
        fmt = _file_format(model)
        if fmt == "exported_program":
            program = _load_file(model, fmt, program=True)
            user = program.graph_signature.user_inputs
            inputs = []
            for node in program.graph.nodes:
                if node.op == "placeholder" and node.name in user:
                    value = node.meta["val"]
                    inputs.append({"name": node.name, "dtype": str(value.dtype).split(".")[-1],
                                   "shape": [d if isinstance(d, int) else None
                                             for d in value.shape]})
            return {"runtime": f"pytorch {torch.__version__}", "inputs": inputs, "outputs": []}
        script = _load_file(model, fmt)
        names = [a.name for a in script.forward.schema.arguments[1:]
                 if not a.has_default_value()]
        return {"runtime": f"pytorch {torch.__version__}",
                "inputs": [{"name": n, "dtype": None, "shape": None} for n in names],
                "outputs": []}
    module = load_module(model, import_path)
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [p.name for p in inspect.signature(module.forward).parameters.values()
             if p.kind in kinds and p.default is inspect.Parameter.empty]
    if not names:
        raise UsageError(f"--model-py {model}: its forward takes no required positional input")
    return {"runtime": f"pytorch {torch.__version__}",
            "inputs": [{"name": n, "dtype": None, "shape": None} for n in names],
            "outputs": []}


def _example_inputs(inputs, rows=2):
    # Two rows: torch.export specialises a dimension of size 1, and the batch must stay dynamic.
    return tuple(torch.zeros((rows, *i["shape"]), dtype=_TORCH_DTYPES[i["dtype"]])
                 for i in inputs)


def _output_signature(outputs):
    """Names, dtypes and one row's shape of what the model returns (a tensor, or a tuple, list
    or dict of them), for a server's signature."""
    if isinstance(outputs, torch.Tensor):
        outputs = (outputs,)
    elif isinstance(outputs, dict):
        outputs = tuple(outputs.values())
    if not all(isinstance(o, torch.Tensor) and o.dim() >= 1 for o in outputs):
        raise Unsupported("the model returns something other than tensors with a batch "
                          "dimension, which a server cannot send back")
    return [{"name": "output" if len(outputs) == 1 else f"output_{i}",
             "dtype": str(o.dtype).split(".")[-1], "shape": list(o.shape[1:])}
            for i, o in enumerate(outputs)]


def _to_torchscript(request, model, example, out):
    """The model as a TorchScript file a LibTorch server loads (torch.jit.trace where it is not
    one already), with the outputs it returns on the example rows."""
    import shutil
    fmt = request["source"]["format"]
    with torch.inference_mode():
        outputs = model(*example)
    if fmt == "torchscript":
        shutil.copyfile(request["source"]["file"], out)
        return "none: the TorchScript file as given", _output_signature(outputs)
    with torch.no_grad():
        traced = torch.jit.trace(model, example, check_trace=False)
    torch.jit.save(traced, out)
    return f"torch.jit.trace {torch.__version__}", _output_signature(outputs)


def convert_model(request):
    """A PyTorch module to ONNX with the exporter PyTorch recommends (torch.export based, the
    batch dimension dynamic, one file), or to TorchScript (traced) for a LibTorch server. The
    converter's own failure is the answer's reason."""
    import inspect
    import time
    import warnings
    source, target, out = request["source"], request["to"], request["out"]
    fmt = source["format"]
    if fmt not in MODEL_FORMATS or target not in ("onnx", "torchscript"):
        raise Unsupported(f"the PyTorch worker converts {', '.join(MODEL_FORMATS)} to ONNX or "
                          f"TorchScript, not {fmt} to {target}")
    if target == "torchscript":
        t0 = time.monotonic()
        if fmt == "pytorch_module":
            torch.manual_seed(request["seed"])  # as a trial seeds before it builds
            model = load_module(source["entry"], source["import_path"])
        else:
            model = _load_file(source["file"], fmt)
        with written_in_place_of(out) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converter, outputs = _to_torchscript(request, model, _example_inputs(source["inputs"]),
                                                 tmp)
        return {"file": out, "format": "torchscript", "converter": converter,
                "outputs": outputs, "seconds": time.monotonic() - t0}
    names = [i["name"] for i in source["inputs"]]
    parameters = inspect.signature(torch.onnx.export).parameters
    options = {"external_data": False} if "external_data" in parameters else {}
    example = _example_inputs(source["inputs"])
    if fmt == "pytorch_module":
        torch.manual_seed(request["seed"])  # as a trial seeds before it builds: the same weights
        model = load_module(source["entry"], source["import_path"])
        batch = torch.export.Dim("batch")
        options.update(dynamo=True, input_names=names,
                       dynamic_shapes=tuple({0: batch} for _ in names))
        converter = "torch.onnx.export(dynamo=True)"
    elif fmt == "exported_program":
        model = _load_file(source["file"], fmt, program=True)  # its dynamic dimensions are its own
        example = ()
        options.update(dynamo=True)
        converter = "torch.onnx.export(dynamo=True) of the ExportedProgram"
    else:
        # A ScriptModule is exported by the TorchScript-based exporter only.
        model = _load_file(source["file"], fmt)
        options = {"dynamo": False} if "dynamo" in parameters else {}
        options.update(input_names=names, dynamic_axes={n: {0: "batch"} for n in names})
        converter = "torch.onnx.export(dynamo=False)"
    t0 = time.monotonic()
    with written_in_place_of(out) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, tmp, **options)
    return {"file": out, "format": "onnx", "converter": f"{converter} {torch.__version__}",
            "seconds": time.monotonic() - t0}


class ModelPort(Port):
    """The user's module, TorchScript file or torch.export program: eager (as loaded),
    TorchScript (traced where it is not already, frozen, optimised for inference) or
    torch.compile, on the shared input rows."""

    def check_supported(self):
        s, um = self.spec, self.spec["user_model"]
        if um["format"] not in MODEL_FORMATS:
            raise Unsupported(f"pytorch runs {', '.join(MODEL_FORMATS)} models, not "
                              f"{um['format']}")
        modes = MODEL_FORMAT_MODES.get(um["format"], MODES)
        if self.mode not in modes:
            raise UsageError(f"pytorch runs a {um['format']} model in modes {', '.join(modes)}, "
                             f"not '{self.mode}'")
        if probe_modes()[self.mode]:
            raise Unsupported(probe_modes()[self.mode])
        if s["task"] != "infer" or s["precision"] != "fp32" or \
                s["memory_format"] != "contiguous":
            raise Unsupported("pytorch runs a user's module as it is (task infer, precision fp32, "
                              "contiguous inputs)")
        self.check_device()

    def build(self):
        um = self.spec["user_model"]
        if um["format"] == "pytorch_module":
            self.model = load_module(um["entry"], um["import_path"])
        else:
            self.model = _load_file(um["file"], um["format"])
        self.model = self.model.to(self.device)
        self.forward = self.model

    def to_feeds(self, feeds):
        return tuple(torch.from_numpy(feeds[i["name"]]).to(self.device)
                     for i in self.spec["user_model"]["inputs"])

    def compile(self, feeds):
        with torch.inference_mode():
            if self.mode == "torchscript":
                with torch.no_grad():
                    traced = self.model if isinstance(self.model, torch.jit.ScriptModule) else \
                        torch.jit.trace(self.model, feeds, check_trace=False)
                self.forward = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
                self.forward(*feeds)
            else:
                self.forward = torch.compile(self.model)
                self.forward(*feeds)
        self._sync()

    def infer_step(self, feeds):
        with torch.inference_mode():
            self.forward(*feeds)
        self._sync()

    def first_output(self, feeds):
        with torch.inference_mode():
            out = self.forward(*feeds)
        while not isinstance(out, torch.Tensor):
            if isinstance(out, dict) and out:
                out = next(iter(out.values()))
            elif isinstance(out, (tuple, list)) and out:
                out = out[0]
            else:
                raise Unsupported(f"the module's output is a {type(out).__name__}: fwbench "
                                  "compares a tensor (or the first of a tuple, list or dict)")
        return out.float().cpu().numpy()


def matmul_peak_probe(mode, threads):
    """runner.matmul_peak_probe: torch.mm on the trial's threads; every mode's linear layers
    run it."""
    from . import matmul_peak
    torch_setup.set_torch_threads(threads)
    flops, size = matmul_peak.measure(torch_llm.matmul_for)
    return {"flops_per_s": flops, "size": size,
            "library": f"torch.mm (PyTorch {torch.__version__})", "modes": list(LLM_MODES)}
