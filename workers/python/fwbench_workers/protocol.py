"""The trial protocol (docs/protocol.md, version 1) for Python workers: what a framework port
(``<name>_port.py``) and the runner share. The errors a port raises, the spec and how it is
read, the event stream, and the form of a thread pool's report. It imports no port; the runner
(runner.py), which drives a trial and imports the ports, builds on it.
"""
import contextlib
import json
import os
import shutil
import time

VERSION = 1


class UsageError(Exception):
    """The spec or its files are unusable: exit 2 with an error event of kind usage."""


class Unsupported(Exception):
    """The configuration cannot run in this framework (exit 1, error kind unsupported)."""


now = time.monotonic_ns


# The CPUs the process could run on before limit_cpus_from_env limited them (empty: never
# limited): the input_pipeline task gives them back to its loader's worker processes.
CPUS_BEFORE_LIMIT = []


def limit_cpus_from_env():
    """For frameworks without a thread-count setting (XLA on the CPU): restrict the process to
    the first FWBENCH_THREADS CPUs it may run on, before the framework is imported."""
    n = int(os.environ.get("FWBENCH_THREADS", "0") or 0)
    if n > 0 and hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        CPUS_BEFORE_LIMIT[:] = cpus
        os.sched_setaffinity(0, cpus[:n])


class EventWriter:
    def __init__(self, stream):
        self.stream = stream

    def write(self, event, **fields):
        line = json.dumps({"event": event, **fields}, separators=(",", ":"), allow_nan=False)
        self.stream.write(line + "\n")
        self.stream.flush()

    def write_many(self, event, records):
        """Several events of one kind with one write and one flush (an input pipeline's steps:
        a write per batch would cost some loaders a tenth of their time)."""
        self.stream.write("".join(
            json.dumps({"event": event, **r}, separators=(",", ":"), allow_nan=False) + "\n"
            for r in records))
        self.stream.flush()


# --- the spec ----------------------------------------------------------------------------

_SPEC_FIELDS = {
    "protocol_version": int, "trial_id": str, "config_id": str, "workload": str, "task": str,
    "backend": str, "mode": str, "device": str, "threads": int, "precision": str,
    "memory_format": str, "save_model": bool, "seed": int, "model": dict, "data": dict,
    "weights": str, "batch_size": int, "parity_batch": int, "optimizer": dict, "budget": dict,
    "output_dir": str, "onnx_model": str, "llm": dict, "user_model": dict, "ddp": dict,
    "pipeline": dict,
}
_OPTIONAL = {"precision": "fp32", "memory_format": "contiguous", "save_model": False,
             "onnx_model": "", "llm": None, "user_model": None, "ddp": None, "pipeline": None}
# Task input_pipeline: which loader feeds the batches, with how many worker processes, from
# which files (data.dir's CIFAR-10 training split, or an image folder), consumed by nothing or
# by the training step; the first check_batches batches are written out for comparison.
_PIPELINE = {"loader": str, "workers": int, "source": str, "images_dir": str,
             "model_step": str, "cache": bool, "check_batches": int}
_PIPELINE_OPTIONAL = {"images_dir": "", "cache": False, "check_batches": 0}
_PIPELINE_VALUES = {"loader": ("dataloader", "tf.data", "grain", "cpp"),
                    "source": ("cifar10-bin", "image-folder"), "model_step": ("none", "train")}
# Task train_ddp: ranks and the hosts they spread over; each rank's number and its peers come
# from the environment fwbench ddp-launch sets (ddp.py).
_DDP = {"processes": int, "hosts": int}
# Workload "user_model": the user's model file, its inputs (name, dtype, one row's shape) and the
# shared input rows every backend feeds (a .safetensors file, one tensor per input).
_USER_MODEL = {"file": str, "format": str, "inputs_file": str, "inputs": list, "entry": str,
               "import_path": str}
# A PyTorch module (format pytorch_module) has no file: "pkg.mod:factory" and where to import it.
_USER_MODEL_OPTIONAL = {"entry": "", "import_path": ""}
_USER_INPUT = {"name": str, "dtype": str, "shape": list}
_LLM = {"tokens": str, "adapter_init": str, "lora_rank": int, "lora_alpha": float,
        "lora_dropout": float, "lora_targets": list, "prompt_tokens": int, "decode_tokens": int}
_NESTED = {
    "model": {"arch": str, "stem": str, "num_classes": int},
    "data": {"format": str, "dir": str, "augment": bool, "shuffle": bool},
    "optimizer": {"name": str, "lr": float, "momentum": float, "weight_decay": float},
    "budget": {"min_steps": int, "max_steps": int, "min_seconds": float, "max_seconds": float},
}


def _check_fields(obj, fields, where, path, optional=None):
    optional = optional or {}
    unknown = sorted(set(obj) - set(fields))
    if unknown:
        raise UsageError(f"{path}: unknown field {where}{unknown[0]} (protocol version {VERSION} "
                         f"has: {', '.join(sorted(fields))})")
    out = {}
    for key, typ in fields.items():
        if key not in obj:
            if key in optional:
                out[key] = optional[key]
                continue
            raise UsageError(f"{path}: missing field {where}{key}")
        value = obj[key]
        ok = (isinstance(value, bool) if typ is bool else
              isinstance(value, (int, float)) and not isinstance(value, bool) if typ is float else
              isinstance(value, int) and not isinstance(value, bool) if typ is int else
              isinstance(value, typ))
        if not ok:
            raise UsageError(f"{path}: field {where}{key} must be {typ.__name__}, got {value!r}")
        out[key] = float(value) if typ is float else value
    return out


def read_spec(path):
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except OSError as e:
        raise UsageError(f"{path}: cannot read the trial spec: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: the spec must be a JSON object")
    spec = _check_fields(raw, _SPEC_FIELDS, "", path, _OPTIONAL)
    if spec["protocol_version"] != VERSION:
        raise UsageError(f"{path}: protocol_version {spec['protocol_version']}; this worker "
                         f"speaks version {VERSION}")
    for key, fields in _NESTED.items():
        spec[key] = _check_fields(spec[key], fields, key + ".", path)
    for key, allowed in (("task", ("train", "infer", "train_ddp", "input_pipeline")),
                         ("precision", ("fp32", "bf16")),
                         ("memory_format", ("contiguous", "channels_last")),
                         ("workload", ("image_classification", "llm_lora", "user_model"))):
        if spec[key] not in allowed:
            raise UsageError(f"{path}: field {key} is '{spec[key]}'; expected one of "
                             f"{', '.join(allowed)}")
    if spec["workload"] == "llm_lora":
        if spec["llm"] is None:
            raise UsageError(f"{path}: workload llm_lora needs the llm object")
        spec["llm"] = _check_fields(spec["llm"], _LLM, "llm.", path)
        return spec
    if spec["workload"] == "user_model":
        if spec["user_model"] is None:
            raise UsageError(f"{path}: workload user_model needs the user_model object")
        um = _check_fields(spec["user_model"], _USER_MODEL, "user_model.", path,
                           _USER_MODEL_OPTIONAL)
        um["inputs"] = [_check_fields(i, _USER_INPUT, f"user_model.inputs[{n}].", path)
                        if isinstance(i, dict) else
                        _check_fields({}, _USER_INPUT, f"user_model.inputs[{n}].", path)
                        for n, i in enumerate(um["inputs"])]
        if not um["inputs"]:
            raise UsageError(f"{path}: user_model.inputs is empty: the model's inputs, each "
                             "{name, dtype, shape}")
        spec["user_model"] = um
        if spec["threads"] < 1 or spec["batch_size"] < 1 or spec["parity_batch"] < 0:
            raise UsageError(f"{path}: threads and batch_size must be >= 1, parity_batch >= 0")
        return spec
    if spec["task"] == "train_ddp":
        if spec["ddp"] is None:
            raise UsageError(f"{path}: task train_ddp needs the ddp object (processes, hosts)")
        spec["ddp"] = _check_fields(spec["ddp"], _DDP, "ddp.", path)
        if spec["ddp"]["processes"] < 1:
            raise UsageError(f"{path}: ddp.processes must be >= 1")
    if spec["task"] == "input_pipeline" or spec["pipeline"] is not None:
        spec["pipeline"] = _read_pipeline(spec["pipeline"], path)
    if spec["data"]["format"] != "cifar10-bin" and not (
            spec["task"] == "input_pipeline" and spec["data"]["format"] == "image-folder"):
        raise UsageError(f"{path}: field data.format is '{spec['data']['format']}'; expected "
                         "cifar10-bin")
    if spec["threads"] < 1 or spec["batch_size"] < 1 or spec["parity_batch"] < 0:
        raise UsageError(f"{path}: threads and batch_size must be >= 1, parity_batch >= 0")
    return spec


def _read_pipeline(pipeline, path):
    if pipeline is None:
        raise UsageError(f"{path}: task input_pipeline needs the pipeline object (loader, "
                         "workers, source, images_dir, model_step, cache, check_batches)")
    p = _check_fields(pipeline, _PIPELINE, "pipeline.", path, _PIPELINE_OPTIONAL)
    for key, allowed in _PIPELINE_VALUES.items():
        if p[key] not in allowed:
            raise UsageError(f"{path}: field pipeline.{key} is '{p[key]}'; expected one of "
                             f"{', '.join(allowed)}")
    if p["workers"] < 0 or p["check_batches"] < 0:
        raise UsageError(f"{path}: pipeline.workers and pipeline.check_batches must be >= 0")
    if p["source"] == "image-folder" and not p["images_dir"]:
        raise UsageError(f"{path}: pipeline.source image-folder needs pipeline.images_dir (the "
                         "folder with one subfolder of images per class)")
    return p


# --- the trial ---------------------------------------------------------------------------


# --- thread pools, as a port reports them --------------------------------------------------

def pool(name, role, set_to, read):
    """One entry of hello's thread_pools: what the trial set, what the library reports back."""
    return {"name": name, "role": role, "set": int(set_to), "read": int(read)}


def affinity_pool(threads):
    """XLA on the CPU sizes its pools from the CPUs the process may run on
    (limit_cpus_from_env set them before import): the CPU count is the read-back."""
    return [pool("XLA CPU (CPUs allowed: os.sched_getaffinity)", "compute", threads,
                 len(os.sched_getaffinity(0)))]


def thread_hygiene():
    """False when the plan says thread_hygiene = false: only the compute pool is set, every other
    pool keeps its library's default (reported, not checked; bench/thread_hygiene.sh)."""
    return os.environ.get("FWBENCH_THREAD_HYGIENE", "on") != "off"


def first_lines(error, limit=700):
    """What a converter said, shortened for a report row: its first line, and the first line
    that names what it could not handle ("Unsupported", "not supported") when that is another."""
    import re
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # the exporter colours its text
    lines = [l.strip() for l in text.splitlines() if l.strip()] or [repr(error)]
    said = lines[0]
    # torch.onnx names the operator it has no conversion for under "Exception summary".
    for marker in ("no onnx function found", "support"):
        named = next((l for l in lines[1:] if marker in l.lower()), None)
        if named:
            said += " … " + named
            break
    return said[:limit]


def error_line(error, limit=700):
    """A one-shot worker answer's reason: the exception's type and first_lines."""
    return f"{type(error).__name__}: {first_lines(error, limit)}"


def tool_error(stderr, limit=600):
    """A command-line converter's own words for its failure: its logged ERROR lines (tf2onnx's
    "... - ERROR - ...", onnx2tf's "ERROR: ..."), else the last line it wrote (the exception)."""
    import re
    text = re.sub(r"\x1b\[[0-9;]*m", "", stderr)  # onnx2tf colours its text
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line.split(" - ERROR - ", 1)[1] if " - ERROR - " in line else line[6:].strip()
              for line in lines if " - ERROR - " in line or line.startswith("ERROR:")]
    if errors:
        return "; ".join(dict.fromkeys(errors))[:limit]
    return lines[-1][:limit] if lines else "it failed without a message"


@contextlib.contextmanager
def written_in_place_of(path, suffix=""):
    """A temporary path beside `path` for an exporter or converter to write (a file or a folder,
    named with `suffix` where the tool wants an extension): it takes `path`'s place when the block
    ends normally, and a failed write leaves nothing behind."""
    tmp = f"{path}.tmp.{os.getpid()}{suffix}"
    try:
        yield tmp
        if os.path.isdir(tmp):
            shutil.rmtree(path, ignore_errors=True)  # os.replace cannot replace a full folder
        os.replace(tmp, path)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.exists(tmp):
            os.remove(tmp)
