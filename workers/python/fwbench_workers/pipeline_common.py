"""What the three input pipelines of the input_pipeline task share (numpy only): the records
they read and the shared seed schedule they draw from.

Every loader delivers, for global batch b, what cifar.Batcher.fill(b) gives: epoch e = b //
per_epoch, the epoch's last partial batch dropped, epochs following each other without end. The
randomness (order, crop offsets, flips) is cifar.epoch_schedule's; the work (gather or decode,
pad-crop, flip, normalisation) is each framework's own.
"""
import os

from . import cifar, image_folder


class Source:
    """The records: `images` uint8 [N, 3, 32, 32] when in memory (CIFAR-10, or an image folder
    decoded once), else `paths` for the loader to decode; `labels` int64 [N] either way."""

    def __init__(self, kind, labels, images=None, paths=None):
        self.kind, self.labels, self.images, self.paths = kind, labels, images, paths
        self.n = len(labels)

    def in_memory(self, images):
        """This source with its images decoded (the cache option)."""
        return Source(self.kind, self.labels, images=images, paths=self.paths)


def source_settings(spec, decoder, cache_how):
    """The settings a loader reports for its source: its decoder (an image folder) and what the
    cache option does there, or that a CIFAR-10 file needs neither."""
    p = spec["pipeline"]
    if p["source"] != "image-folder":
        return {"cache": "ignored: cifar10-bin is read into memory whole"}
    return {"decoder": decoder, "cache": cache_how if p["cache"] else False}


def read_source(spec):
    """Phase data: the CIFAR-10 training split, or the image folder's listing (its files are
    decoded by the loader)."""
    p = spec["pipeline"]
    if p["source"] == "cifar10-bin":
        images, labels = cifar.read_split(spec["data"]["dir"], "train")
        source = Source("cifar10-bin", labels, images=images)
    else:
        paths, labels, classes = image_folder.list_images(p["images_dir"])
        source = Source("image-folder", labels, paths=paths)
        if p["model_step"] == "train" and len(classes) > spec["model"]["num_classes"]:
            raise cifar.DataError(f"{p['images_dir']}: {len(classes)} class folders, more than "
                                  f"the model's {spec['model']['num_classes']} classes (plan "
                                  "model.num_classes)")
    if source.n < spec["batch_size"]:
        where = spec["data"]["dir"] if p["source"] == "cifar10-bin" else p["images_dir"]
        raise cifar.DataError(f"{where}: {source.n} images, fewer than one batch of "
                              f"{spec['batch_size']}")
    return source


class Schedule:
    """The shared seed schedule by global sample: sample g is position g % per_epoch_samples of
    epoch g // per_epoch_samples (only whole batches: per_epoch_samples = n // B * B). Each
    process keeps its current epoch's schedule (a DataLoader or Grain worker computes the
    epochs it reaches itself; they are pure functions of the seed)."""

    def __init__(self, n, batch_size, seed, shuffle, augment):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.shuffle, self.augment = shuffle, augment
        self.per_epoch = n // batch_size
        self.epoch_samples = self.per_epoch * batch_size
        # "Without end": a length the budget never reaches, a whole number of epochs.
        self.endless = self.epoch_samples * max(1, (1 << 50) // self.epoch_samples)
        self._cached = (-1, None)  # one tuple: threads (tf.data's generator) share it

    @classmethod
    def of(cls, spec, n):
        return cls(n, spec["batch_size"], spec["seed"], spec["data"]["shuffle"],
                   spec["data"]["augment"])

    def epoch(self, e):
        """(order, dy, dx, flip) of epoch e, cut to its whole batches."""
        cached_e, table = self._cached
        if cached_e != e:
            order, dy, dx, flip = cifar.epoch_schedule(self.n, self.seed, e, self.shuffle,
                                                       self.augment)
            m = self.epoch_samples
            table = (order[:m], dy[:m], dx[:m], flip[:m])
            self._cached = (e, table)
        return table

    def at(self, g):
        """(record, dy, dx, flip) of global sample g, as Python ints and a bool."""
        e, p = divmod(int(g), self.epoch_samples)
        order, dy, dx, flip = self.epoch(e)
        return int(order[p]), int(dy[p]), int(dx[p]), bool(flip[p])

    def records_of_batch(self, b):
        e, first = divmod(int(b), self.per_epoch)
        first *= self.batch_size
        return self.epoch(e)[0][first:first + self.batch_size].tolist()


def restore_affinity(cpus, *_):
    """A loader worker process's init: the CPUs the worker process had before the JAX port
    limited them to the trial's threads (protocol.limit_cpus_from_env), so loader processes are
    not squeezed onto the compute threads' CPUs (a DataLoader's workers never are)."""
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)


def one_line_data_error(error):
    """The original message of a DataError re-raised from a loader's worker process with the
    worker's traceback around it (PyTorch: "Caught DataError in DataLoader worker process 0.
    Original Traceback (most recent call last): ... DataError: PATH: ..."): its last
    "DataError: " line, else the first line."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    for line in reversed(lines):
        head, sep, rest = line.partition("DataError: ")
        if sep and (not head or head.endswith(".")) and " " not in head.strip():
            return cifar.DataError(rest.strip())
    return cifar.DataError(lines[0] if lines else repr(error))
