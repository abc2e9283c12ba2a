"""The ResNet family in the Keras layers API (NHWC), shared by the tensorflow and keras3 ports.

Layer names are torchvision's module names with "." replaced by "_" (conv1, layer1_0_bn2,
layer2_0_downsample_0, fc), so the shared .safetensors maps onto them one to one. PyTorch's
symmetric padding is an explicit ZeroPadding2D: Keras's "same" pads stride-2 convolutions
asymmetrically, which would be a different function.
"""
import numpy as np

ARCHS = {
    "resnet18": ("basic", [2, 2, 2, 2]), "resnet34": ("basic", [3, 4, 6, 3]),
    "resnet50": ("bottleneck", [3, 4, 6, 3]), "resnet101": ("bottleneck", [3, 4, 23, 3]),
    "resnet152": ("bottleneck", [3, 8, 36, 3]),
}


def build(keras, arch, stem, num_classes, usage_error, regularizer=None):
    """`regularizer` (optional) goes on every parameter: weights, BatchNorm scale and shift."""
    if arch not in ARCHS:
        raise usage_error(f"unknown model.arch '{arch}' ({', '.join(ARCHS)})")
    if stem not in ("cifar", "imagenet"):
        raise usage_error(f"unknown model.stem '{stem}' (cifar, imagenet)")
    layers = keras.layers
    block, counts = ARCHS[arch]

    def conv(x, name, filters, k, stride, pad):
        if pad:
            x = layers.ZeroPadding2D(pad, name=name.replace(".", "_") + "_pad")(x)
        # Zeros: the shared weights replace every initial value, and on the JAX backend each
        # random initializer compiled a kernel of its own (5.4 s of ResNet-18's build here).
        return layers.Conv2D(filters, k, strides=stride, padding="valid", use_bias=False,
                             kernel_initializer="zeros", kernel_regularizer=regularizer,
                             name=name.replace(".", "_"))(x)

    def bn(x, name):
        return layers.BatchNormalization(axis=-1, epsilon=1e-5, momentum=0.9,
                                         gamma_regularizer=regularizer,
                                         beta_regularizer=regularizer,
                                         name=name.replace(".", "_"))(x)

    relu = layers.ReLU
    inputs = keras.Input(shape=(32, 32, 3))  # the workload's CIFAR-size images
    if stem == "cifar":
        x = relu()(bn(conv(inputs, "conv1", 64, 3, 1, 1), "bn1"))
    else:
        x = relu()(bn(conv(inputs, "conv1", 64, 7, 2, 3), "bn1"))
        # Zero padding equals -inf padding here: the inputs are ReLU outputs.
        x = layers.MaxPooling2D(3, strides=2, padding="valid")(layers.ZeroPadding2D(1)(x))
    expansion = 1 if block == "basic" else 4
    in_planes = 64
    for stage, n in enumerate(counts):
        planes = 64 << stage
        for b in range(n):
            stride = 2 if b == 0 and stage > 0 else 1
            p = f"layer{stage + 1}.{b}"
            if block == "basic":
                out = relu()(bn(conv(x, f"{p}.conv1", planes, 3, stride, 1), f"{p}.bn1"))
                out = bn(conv(out, f"{p}.conv2", planes, 3, 1, 1), f"{p}.bn2")
            else:
                out = relu()(bn(conv(x, f"{p}.conv1", planes, 1, 1, 0), f"{p}.bn1"))
                out = relu()(bn(conv(out, f"{p}.conv2", planes, 3, stride, 1), f"{p}.bn2"))
                out = bn(conv(out, f"{p}.conv3", planes * 4, 1, 1, 0), f"{p}.bn3")
            shortcut = x
            if stride != 1 or in_planes != planes * expansion:
                shortcut = bn(conv(x, f"{p}.downsample.0", planes * expansion, 1, stride, 0),
                              f"{p}.downsample.1")
            x = relu()(layers.Add()([out, shortcut]))
            in_planes = planes * expansion
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(num_classes, kernel_initializer="zeros", kernel_regularizer=regularizer,
                           bias_regularizer=regularizer, name="fc")(x)
    return keras.Model(inputs, outputs)


def conv_kernel(oihw):
    """PyTorch conv weight [out, in, kh, kw] -> Keras kernel [kh, kw, in, out]."""
    return np.ascontiguousarray(oihw.transpose(2, 3, 1, 0))


def dense_kernel(out_in):
    """PyTorch linear weight [out, in] -> Keras kernel [in, out]."""
    return np.ascontiguousarray(out_in.T)


def load(model, tensors, path, usage_error):
    """torchvision tensors -> Keras weights: conv OIHW -> HWIO, linear [out, in] -> [in, out]."""
    def get(name, shape):
        if name not in tensors:
            raise usage_error(f"{path}: tensor '{name}' is missing")
        t = tensors[name]
        if list(t.shape) != list(shape):
            raise usage_error(f"{path}: tensor '{name}' has shape {list(t.shape)}, the model "
                              f"needs {list(shape)}")
        return t.astype(np.float32)

    for layer in model.layers:
        cls = type(layer).__name__
        torch_name = _torch_name(layer.name)
        if cls == "Conv2D":
            h, w, i, o = layer.kernel.shape
            layer.set_weights([conv_kernel(get(f"{torch_name}.weight", (o, i, h, w)))])
        elif cls == "BatchNormalization":
            c = layer.gamma.shape[0]
            layer.set_weights([get(f"{torch_name}.{k}", (c,)) for k in
                               ("weight", "bias", "running_mean", "running_var")])
        elif cls == "Dense":
            i, o = layer.kernel.shape
            layer.set_weights([dense_kernel(get("fc.weight", (o, i))), get("fc.bias", (o,))])


def _torch_name(keras_name):
    # "layer1_0_bn2" -> "layer1.0.bn2", "layer2_0_downsample_0" -> "layer2.0.downsample.0".
    return keras_name.replace("_", ".")
