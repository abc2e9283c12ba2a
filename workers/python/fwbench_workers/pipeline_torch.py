"""The input_pipeline task's PyTorch loader: torch.utils.data.DataLoader over a map-style Dataset.

The Dataset's index is the global sample (epoch, position); its __getitem__ reads or decodes
(torchvision.io.decode_image) the scheduled record and pad-crops, flips and normalises it with
torch ops. The DataLoader batches in index order (shuffle=False: the order is the shared
schedule's), drop_last=True, with the workers, prefetch factor and pinning the spec asks for.
"""
import multiprocessing

import torch
import torch.utils.data
import torchvision
from torchvision.io import ImageReadMode

from . import cifar, image_folder
from .pipeline_common import Schedule, one_line_data_error, source_settings
from .protocol import pool

LOADER = "dataloader"
RECOMMENDED = ("PyTorch Performance Tuning Guide: \"Setting num_workers > 0 enables "
               "asynchronous data loading and overlap between the training and data loading. "
               "num_workers should be tuned depending on the workload, CPU, GPU, and location of "
               "training data ... When using a GPU it's better to set pin_memory=True\"")
_DECODE_CHUNK = 64  # images per element of the cache option's decode pass


def settings(spec):
    """What the loader sets, for hello (and the loader itself)."""
    p = spec["pipeline"]
    w = p["workers"]
    out = {"num_workers": w, "batch_size": spec["batch_size"], "shuffle": False,
           "sampler": "SequentialSampler over global samples (the shared schedule's order)",
           "drop_last": True, "prefetch_factor": 2 if w > 0 else None,
           "persistent_workers": False, "pin_memory": spec["device"] == "cuda",
           "multiprocessing_context": multiprocessing.get_start_method() if w > 0 else None,
           "worker_torch_threads": 1 if w > 0 else None,  # DataLoader's _worker_loop sets it
           "transforms": "torch.nn.functional.pad, slicing, torch.flip, a [3, 256] float32 "
                         "lookup table (docs/data.md §4.6)"}
    out.update(source_settings(
        spec, "torchvision.io.decode_image(mode=ImageReadMode.RGB)",
        f"decoded once in the loader phase by a DataLoader with the same workers (batches of "
        f"{_DECODE_CHUNK}), then augmented from memory"))
    return out


def pools(spec):
    """hello's loader pool (docs/protocol.md): the worker processes, as a DataLoader built with
    these settings holds them (none without workers)."""
    w = spec["pipeline"]["workers"]
    if w == 0:
        return []
    held = _loader(torch.utils.data.TensorDataset(torch.zeros(1)), spec, 1, False).num_workers
    return [pool("torch DataLoader worker processes (DataLoader.num_workers)", "loader", w,
                 held)]


def decode(path):
    """torchvision's decode: uint8 CHW [3, 32, 32], or DataError naming the file."""
    try:
        image = torchvision.io.decode_image(torchvision.io.read_file(path),
                                            mode=ImageReadMode.RGB)
    except RuntimeError as e:
        raise image_folder.decode_error(path, e) from None
    image_folder.check_size(path, image.shape[1], image.shape[2], image.shape[0])
    return image


class Samples(torch.utils.data.Dataset):
    """Global sample g -> (float32 [3, 32, 32], label): Batcher's sample at that position."""

    def __init__(self, source, schedule):
        self.schedule = schedule
        self.images = (torch.from_numpy(source.images) if source.images is not None else None)
        self.paths, self.labels = source.paths, source.labels
        self.lut = torch.from_numpy(cifar.LUT)
        self.channel = torch.arange(3)[:, None, None]

    def __len__(self):
        return self.schedule.endless

    def __getitem__(self, g):
        k, dy, dx, flip = self.schedule.at(g)
        image = self.images[k] if self.images is not None else decode(self.paths[k])
        crop = torch.nn.functional.pad(image, (4, 4, 4, 4))[:, dy:dy + 32, dx:dx + 32]
        if flip:
            crop = torch.flip(crop, (2,))
        return self.lut[self.channel, crop.long()], int(self.labels[k])


class _Decoded(torch.utils.data.Dataset):
    """The cache option's decode pass: chunk i -> uint8 [<= 64, 3, 32, 32] in record order."""

    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return (len(self.paths) + _DECODE_CHUNK - 1) // _DECODE_CHUNK

    def __getitem__(self, i):
        return torch.stack([decode(p) for p in
                            self.paths[i * _DECODE_CHUNK:(i + 1) * _DECODE_CHUNK]])


def _loader(dataset, spec, batch_size, drop_last):
    s = settings(spec)
    w = s["num_workers"]
    # prefetch_factor only with workers (PyTorch < 2.0 refuses it, even None, without them).
    extra = {"prefetch_factor": s["prefetch_factor"]} if w > 0 else {}
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=False, drop_last=drop_last, num_workers=w,
        persistent_workers=False, pin_memory=s["pin_memory"], **extra)


class Loader:
    """Builds the DataLoader and starts its iterator (the workers start here)."""

    def __init__(self, spec, source):
        self.spec = spec
        if source.images is None and spec["pipeline"]["cache"]:
            source = source.in_memory(self._decode_all(source.paths))
        self.loader = _loader(Samples(source, Schedule.of(spec, source.n)), spec,
                              spec["batch_size"], True)
        self.it = iter(self.loader)

    def _decode_all(self, paths):
        it = iter(_loader(_Decoded(paths), self.spec, batch_size=None, drop_last=False))
        try:
            return torch.cat(_checked(lambda: list(it))).numpy()
        finally:
            _shutdown(it)

    def next(self):
        """The next batch: (float32 [B, 3, 32, 32], int64 [B]) as numpy arrays (no copy)."""
        x, y = _checked(lambda: next(self.it))
        return x.numpy(), y.numpy()

    def close(self):
        """Joins the worker processes (their CPU time then counts as this process's
        children's)."""
        _shutdown(self.it)


def _checked(fn):
    """fn(); a DataError raised in a worker process arrives as one line, the original message
    naming the file (the DataLoader re-raises it wrapped in the worker's traceback)."""
    try:
        return fn()
    except cifar.DataError as e:
        raise one_line_data_error(e) from None


def _shutdown(it):
    stop = getattr(it, "_shutdown_workers", None)
    if stop is not None:
        stop()
