#!/usr/bin/python3
"""Reference data for tests/torch/torchvision_parity_test.cpp.

Usage: /usr/bin/python3 tests/torch/torchvision_export.py OUTDIR [--size 224]
           [--parts resnet18 resnet50 names]

For resnet18 and resnet50 (each a "part") (torchvision, weights=None, num_classes=1000, eval mode, BatchNorm
running stats and affine parameters perturbed so that they matter) writes
  OUTDIR/<arch>_weights.safetensors   the state_dict
  OUTDIR/<arch>_io.safetensors        "input" [2, 3, S, S] and torchvision's "logits" [2, 1000]
and (part "names") OUTDIR/names.json: {arch: {state_dict key: shape}} for all five ResNets.

Exit status: 0 on success, 3 when torch/torchvision cannot be imported (the C++ test then
skips), anything else is a failure.
"""
import argparse
import json
import os
import struct
import sys
import time

try:
    import torch
    import torchvision
except Exception as e:  # noqa: BLE001 - any import failure means "not available"
    print(f"torchvision_export.py: cannot import torch/torchvision: {e!r}", file=sys.stderr)
    sys.exit(3)

DTYPES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def save_safetensors(tensors, path, metadata=None):
    """Minimal safetensors writer (no dependency on the safetensors package).

    8-byte little-endian header length, JSON header (padded with spaces to a multiple of 8),
    then the raw little-endian bytes of each tensor in name order.
    """
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret as int16
            data = t.view(torch.int16).numpy().tobytes()
        else:
            data = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)
    os.replace(tmp, path)


def perturb_batchnorm(model, generator):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=generator) * 1.5 + 0.5)  # U(0.5, 2)
                m.weight.copy_(torch.rand(c, generator=generator) + 0.5)              # U(0.5, 1.5)
                m.bias.copy_(torch.randn(c, generator=generator) * 0.1)
                m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=generator)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("outdir")
    parser.add_argument("--size", type=int, default=224, help="input height and width")
    parser.add_argument("--parts", nargs="+", default=["resnet18", "resnet50", "names"],
                        choices=["resnet18", "resnet50", "names"])
    args = parser.parse_args()
    os.makedirs(args.outdir, exist_ok=True)

    for seed, arch in enumerate(["resnet18", "resnet50"]):
        if arch not in args.parts:
            continue
        start = time.time()
        torch.manual_seed(seed)
        model = getattr(torchvision.models, arch)(weights=None, num_classes=1000)
        generator = torch.Generator().manual_seed(100 + seed)
        perturb_batchnorm(model, generator)
        model.eval()
        x = torch.randn(2, 3, args.size, args.size, generator=generator)
        with torch.no_grad():
            logits = model(x)
        meta = {"arch": arch, "stem": "imagenet", "num_classes": "1000",
                "torch": torch.__version__, "torchvision": torchvision.__version__}
        save_safetensors(model.state_dict(), os.path.join(args.outdir, f"{arch}_weights.safetensors"),
                         meta)
        save_safetensors({"input": x, "logits": logits},
                         os.path.join(args.outdir, f"{arch}_io.safetensors"), meta)
        print(f"{arch}: {len(model.state_dict())} tensors, logits |max| "
              f"{logits.abs().max().item():.4g}, {time.time() - start:.1f} s")

    if "names" not in args.parts:
        return
    # Only names and shapes are needed: skip the (slow) random initialisation.
    for init in ("kaiming_normal_", "kaiming_uniform_", "uniform_", "normal_"):
        setattr(torch.nn.init, init, lambda tensor, *args, **kwargs: tensor)
    names = {}
    for arch in ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]:
        model = getattr(torchvision.models, arch)(weights=None, num_classes=1000)
        names[arch] = {k: list(v.shape) for k, v in model.state_dict().items()}
    with open(os.path.join(args.outdir, "names.json"), "w") as f:
        json.dump(names, f)


if __name__ == "__main__":
    main()
