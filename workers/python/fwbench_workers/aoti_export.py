"""AOTInductor package of the shared ResNet, for LibTorch's aoti mode (docs/workers.md).

torch.export captures the eval-mode model (BatchNorm with running statistics) with a dynamic
batch dimension, and torch._inductor.aoti_compile_and_package compiles it to a .pt2 package
that C++ loads with torch::inductor::AOTIModelPackageLoader. The C++ trial runs this as its
compile phase, so the whole cost (Python start, export, Inductor, the C++ compiler) is counted
as compile time like every other backend's. Input [N, 3, 32, 32] float32, output [N, classes].
"""
import json
import os
import shutil
import time


def main(args, out):
    arch, stem, num_classes, weights, path, threads = args[:6]
    t0 = time.monotonic()
    threads = int(threads)
    # Inductor compiles its C++ in worker processes: no more of them than the trial's threads.
    os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", str(threads))
    # A cache of its own, removed afterwards: every trial pays the cold compile a user's first
    # deployment pays, not the first trial only (Inductor caches by graph in /tmp by default).
    cache = f"{path}.inductor-cache.{os.getpid()}"
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
    import torch

    from . import safetensors_np
    from .protocol import written_in_place_of
    from .torch_port import build_resnet
    torch.set_num_threads(threads)
    # Freezing (weights as constants: Conv-BN folding, oneDNN weight prepacking), PyTorch's advice
    # for CPU inference. ResNet-18 CIFAR b4 here: 58 ms/step without it vs 37 ms eager; 29-36 ms
    # with it vs 31 ms eager (30 steps each, 2 threads).
    torch._inductor.config.freezing = True
    model = build_resnet(arch, stem, int(num_classes))
    tensors, _ = safetensors_np.read(weights)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    model.eval()
    # Batch 2, not 1: export specialises sizes 0 and 1, and the batch stays dynamic (the trial's
    # parity batch and the server's merged requests differ from the benchmarked batch size).
    example = torch.zeros(2, 3, 32, 32)
    batch = torch.export.Dim("batch", min=1, max=65536)
    try:
        # A failed compile leaves nothing behind.
        with written_in_place_of(path, ".pt2") as tmp, torch.no_grad():
            exported = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
            t_export = time.monotonic()
            torch._inductor.aoti_compile_and_package(exported, package_path=tmp)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    out.write(json.dumps({"exported": path, "format": "aoti",
                          "exporter": f"torch.export + AOTInductor {torch.__version__}, freezing",
                          "export_seconds": t_export - t0,
                          "seconds": time.monotonic() - t0}) + "\n")
    out.flush()
    return 0
