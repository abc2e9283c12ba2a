"""ONNX export of the shared ResNet through torch.onnx (the PyTorch worker's exporter).

The exported graph is the eval-mode model (BatchNorm with running statistics) with dynamic batch,
height and width, input "input" [N, 3, H, W] float32, output "logits" [N, classes].
"""
import inspect
import json
import time
import warnings

OPSET = 13


def inline_initializer_identities(path):
    """torch.onnx deduplicates equal initializers (freshly initialised BatchNorm tensors are all
    ones or zeros) and reads the copies through Identity nodes; OpenCV 4.6's importer rejects an
    Identity whose input is an initializer. Each such node becomes an initializer of its own:
    the same function, loadable by more runtimes. Needs the onnx package (Debian's python3-onnx);
    returns how many nodes were replaced, or -1 when onnx is not installed."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return -1
    model = onnx.load(path)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    keep, replaced = [], 0
    for node in graph.node:
        if node.op_type == "Identity" and len(node.input) == 1 and node.input[0] in inits:
            copy = numpy_helper.from_array(numpy_helper.to_array(inits[node.input[0]]),
                                           node.output[0])
            graph.initializer.append(copy)
            replaced += 1
        else:
            keep.append(node)
    if replaced:
        del graph.node[:]
        graph.node.extend(keep)
        onnx.checker.check_model(model)
        onnx.save(model, path)
    return replaced


def main(args, out):
    arch, stem, num_classes, weights, path = args[:5]
    raw = args[5:] == ["raw"]  # the exporter's graph exactly as torch.onnx wrote it
    t0 = time.monotonic()
    import torch

    from . import safetensors_np
    from .protocol import written_in_place_of
    from .torch_port import build_resnet
    model = build_resnet(arch, stem, int(num_classes))
    tensors, _ = safetensors_np.read(weights)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    model.eval()
    example = torch.zeros(1, 3, 32, 32)  # the workload's images; H and W stay dynamic
    # PyTorch >= 2.9 exports through torch.export by default, at opset 18 and with the weights in
    # a second file; OpenCV 4.6's importer and the Node runtimes read this single opset-13 file,
    # which the TorchScript-based exporter (dynamo=False) still writes.
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters \
        else {}
    exporter = "torch.onnx (TorchScript-based)" if legacy else "torch.onnx"
    with written_in_place_of(path) as tmp:  # a failed export leaves nothing behind
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(model, example, tmp, input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"},
                                            "logits": {0: "batch"}},
                              opset_version=OPSET, **legacy)
        inlined = 0 if raw else inline_initializer_identities(tmp)
    out.write(json.dumps({"exported": path, "format": "onnx", "opset": OPSET,
                          "exporter": f"{exporter} {torch.__version__}",
                          "identities_inlined": inlined,
                          "seconds": time.monotonic() - t0}) + "\n")
    out.flush()
    return 0
