"""Loads a TorchScript file saved by `fwbench trial` (libtorch/compiled) with Python's
torch.jit.load, runs it on the parity inputs the trial wrote, and compares with the trial's
logits. Usage: check_torchscript.py MODEL.pt LOGITS.safetensors. Prints the max abs error and
exits 0 when it is within 1e-4, 1 when not, 2 when the file does not load or run (with the
reason), 77 when torch cannot be imported (a skip)."""
import json
import struct
import sys


def read_safetensors(path, np):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype="<f4").reshape(info["shape"])
    return out


def main():
    try:
        import numpy as np
        import torch
    except ImportError as e:
        print(f"skip: {e}")
        return 77
    model_path, logits_path = sys.argv[1], sys.argv[2]
    tensors = read_safetensors(logits_path, np)
    try:
        model = torch.jit.load(model_path)
        model.eval()
        with torch.no_grad():
            got = model(torch.from_numpy(tensors["inputs"].copy())).numpy()
    except Exception as e:  # noqa: BLE001 - the reason is the answer
        print(f"torch {torch.__version__} cannot load or run {model_path}: "
              f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}")
        return 2
    err = float(np.abs(got - tensors["logits"]).max())
    print(f"torch {torch.__version__}: max |python - fwbench| = {err:.3g} on {got.shape}")
    return 0 if err <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
