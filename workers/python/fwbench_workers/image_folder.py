"""The image-folder source of the input_pipeline task: IMAGES_DIR/<class>/<file>, PNG and JPEG.

Only the listing and the checks every decoder shares live here (numpy only): each loader decodes
with its own framework's decoder (torchvision for the DataLoader, tf.io for tf.data, Pillow for
Grain), so the decode cost is that framework's. The records are the classes in sorted order,
each class's files sorted by name; the label is the class's rank. Every image must decode to
32x32 RGB: the pipeline applies the CIFAR batch algorithm (docs/data.md §4) to the decoded
images as its records.
"""
import os
import re

import numpy as np

from .cifar import DataError

EXTENSIONS = (".png", ".jpg", ".jpeg")
SIZE = 32


def list_images(images_dir):
    """(paths [N], labels int64 [N], class names) in record order, or DataError saying why."""
    if not os.path.isdir(images_dir):
        raise DataError(f"{images_dir}: not a directory (expected an image folder: one "
                        "subfolder per class, each holding .png/.jpg/.jpeg files)")
    classes = sorted(e.name for e in os.scandir(images_dir) if e.is_dir())
    if not classes:
        raise DataError(f"{images_dir}: no class folders (put the images in one subfolder per "
                        "class: IMAGES_DIR/<class>/<image>.png)")
    paths, labels = [], []
    for label, name in enumerate(classes):
        folder = os.path.join(images_dir, name)
        files = sorted(e.name for e in os.scandir(folder)
                       if e.is_file() and e.name.lower().endswith(EXTENSIONS))
        paths += [os.path.join(folder, f) for f in files]
        labels += [label] * len(files)
    if not paths:
        raise DataError(f"{images_dir}: no images in its class folders ({', '.join(classes)}); "
                        "the input_pipeline task reads .png, .jpg and .jpeg files")
    return paths, np.array(labels, dtype=np.int64), classes


def is_jpeg_name(path):
    return path.lower().endswith((".jpg", ".jpeg"))


def decode_error(path, reason):
    """The one error an unreadable image gives, whichever decoder read it: the decoder's first
    line, without the location TensorFlow ("{{function_node ...}} ", "[Op:...]") or torchvision
    ("decode_image, /path/decode_image.cpp:61, ") puts in front of it."""
    reason = (str(reason).strip().splitlines() or [type(reason).__name__])[0]
    reason = re.sub(r"^(\{\{[^}]*\}\}\s*|\w+, \S+:\d+, )", "", reason)
    reason = re.sub(r"\s*\[Op:\w+\]( name:.*)?$", "", reason)
    return DataError(f"{path}: cannot decode the image ({reason})")


def check_size(path, height, width, channels=3):
    """DataError unless a decoded image is 32x32 with 3 channels (every decoder is asked for
    RGB, so channels other than 3 mean the decoder did not convert)."""
    if (height, width) != (SIZE, SIZE):
        raise DataError(f"{path}: image is {width}x{height}; the input_pipeline task feeds "
                        f"{SIZE}x{SIZE} images (resize the folder first)")
    if channels != 3:
        raise DataError(f"{path}: the decoder gave {channels} channels, not RGB")


def decode_pillow(path):
    """Pillow's decode (Grain's pipelines decode with it): uint8 CHW [3, 32, 32]."""
    from PIL import Image
    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as e:  # PIL.UnidentifiedImageError is an OSError
        raise decode_error(path, e) from None
    check_size(path, rgb.shape[0], rgb.shape[1], rgb.shape[2])
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))


def decode_all_pillow(paths):
    """Every image decoded with Pillow, uint8 [N, 3, 32, 32]: the tests' reference records."""
    return np.stack([decode_pillow(p) for p in paths]) if paths else \
        np.zeros((0, 3, SIZE, SIZE), dtype=np.uint8)
