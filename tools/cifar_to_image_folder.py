"""Writes a CIFAR-10 binary folder's training images as an image folder, DIR/<class>/<n>.png or
.jpg, the layout `fwbench run --pipeline-images DIR` reads (docs/data-pipelines.md): a folder of
files for each framework's own decoders, made from data every fwbench run already has.

    python3 tools/cifar_to_image_folder.py CIFAR_DIR OUT_DIR [--count N] [--jpeg-share 0.5]

Needs numpy and Pillow (.venvs/tf or .venvs/torch have both). Every `1 / jpeg_share`-th image is
JPEG (quality 90), the others PNG.
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck"]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cifar_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--count", type=int, default=0, help="images to write (0: all)")
    ap.add_argument("--jpeg-share", type=float, default=0.5,
                    help="share of the images written as JPEG (0-1)")
    args = ap.parse_args(argv)
    records = []
    for k in range(1, 6):
        path = os.path.join(args.cifar_dir, f"data_batch_{k}.bin")
        with open(path, "rb") as f:
            raw = f.read()
        if not raw or len(raw) % 3073:
            sys.exit(f"{path}: not a CIFAR-10 binary file (records of 3073 bytes)")
        records.append(np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073))
    recs = np.concatenate(records)
    if args.count:
        recs = recs[:args.count]
    every = round(1 / args.jpeg_share) if args.jpeg_share > 0 else 0
    for cls in CLASSES:
        os.makedirs(os.path.join(args.out_dir, cls), exist_ok=True)
    for i, rec in enumerate(recs):
        image = Image.fromarray(rec[1:].reshape(3, 32, 32).transpose(1, 2, 0))
        jpeg = every > 0 and i % every == 0
        name = os.path.join(args.out_dir, CLASSES[rec[0]], f"{i:05d}.{'jpg' if jpeg else 'png'}")
        image.save(name, quality=90) if jpeg else image.save(name)
    print(f"wrote {len(recs)} images to {args.out_dir}")


if __name__ == "__main__":
    main(sys.argv[1:])
