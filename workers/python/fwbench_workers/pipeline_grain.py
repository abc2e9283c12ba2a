"""The input_pipeline task's JAX loader: Grain (the data loader of the JAX ecosystem).

grain.MapDataset.range over global samples, .map of a per-sample transform (the scheduled record
from memory or decoded with Pillow, Grain having no decoder of its own; pad-crop, flip and
normalisation in numpy), .batch(drop_remainder=True), .to_iter_dataset(ReadOptions) and, with
workers w >= 1, .mp_prefetch(MultiprocessingOptions(num_workers=w)): w spawned processes, each
producing every w-th batch, interleaved back in order. Workers 0: all in the calling thread.

Grain's default ReadOptions reads with 16 threads per process; here each worker process reads
with 1 (every thread of the trial is counted), and the calling process with none when w = 0.
"""
import functools

import grain
import numpy as np

from . import cifar, image_folder, protocol
from .pipeline_common import Schedule, restore_affinity, source_settings

LOADER = "grain"
RECOMMENDED = ("Grain ReadOptions: \"If the data are already loaded in memory, we recommend "
               "setting [num_threads] to 0 to avoid Python GIL contention by multiple "
               "threads\"; MultiprocessingOptions: \"More processes can speed up the pipeline "
               "if it's compute bound and bottlenecked on the CPython's GIL\"")
_DECODE_CHUNK = 64  # images per element of the cache option's decode pass


def settings(spec):
    """What the loader sets, for hello (and the loader itself)."""
    p = spec["pipeline"]
    w = p["workers"]
    out = {"dataset": "MapDataset.range(global samples).map(sample).batch(B, "
                      "drop_remainder=True).to_iter_dataset(read_options)" +
                      (".mp_prefetch(multiprocessing_options)" if w > 0 else ""),
           "read_options": {"num_threads": 1 if w > 0 else 0,
                            "prefetch_buffer_size": 2 if w > 0 else 0},
           "multiprocessing_options": ({"num_workers": w, "per_worker_buffer_size": 1}
                                       if w > 0 else None),
           "worker_count": w,
           "multiprocessing_start_method": "spawn (Grain's own)" if w > 0 else None,
           "main_process_interleave_threads": w if w > 0 else 0,
           "worker_cpu_affinity": ("the CPUs this process had before the JAX port limited it "
                                   "to the trial's threads" if w > 0 else None),
           "transforms": "numpy pad-crop, flip and a [3, 256] float32 lookup table "
                         "(docs/data.md §4.6)"}
    out.update(source_settings(
        spec, "Pillow: Image.open(path).convert(\"RGB\")",
        f"decoded once in the loader phase by a Grain pipeline with the same options (batches "
        f"of {_DECODE_CHUNK}), then augmented from memory"))
    return out


def pools(spec):
    """hello's loader pool (docs/protocol.md): Grain's worker processes, as its options hold
    them (none without workers)."""
    options = settings(spec)["multiprocessing_options"]
    if not options:
        return []
    held = grain.MultiprocessingOptions(**options).num_workers
    return [protocol.pool("grain worker processes (MultiprocessingOptions.num_workers)",
                          "loader", options["num_workers"], held)]


class Sample:
    """Global sample g -> {"image": float32 [3, 32, 32], "label": int64}: Batcher's sample at
    that position. Pickled into each worker process (Grain spawns them)."""

    def __init__(self, source, schedule):
        self.schedule, self.images, self.paths = schedule, source.images, source.paths
        self.labels = source.labels

    def __call__(self, g):
        k, dy, dx, flip = self.schedule.at(g)
        image = (self.images[k] if self.images is not None else
                 image_folder.decode_pillow(self.paths[k]))
        crop = cifar.crop_flip(image, dy, dx, flip)
        return {"image": cifar.normalise(crop[None])[0], "label": self.labels[k]}


def _decode_chunk(paths, i):
    return np.stack([image_folder.decode_pillow(p) for p in
                     paths[i * _DECODE_CHUNK:(i + 1) * _DECODE_CHUNK]])


def _flags_parsed():
    """Grain reads its absl flags (the worker processes' debug settings); a worker that is no
    absl app must mark them parsed first."""
    from absl import flags
    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


def _start_workers(it):
    """Starts the worker processes now, in the loader phase, as a DataLoader's start. Grain
    starts them at the first next(): DatasetIterator.start_prefetch does not reach the
    processes of mp_prefetch, whose interleave (Grain 0.2.18) makes their iterators lazily on
    a pool of its own, which is started here (no batch is taken)."""
    it.start_prefetch()
    make_iterators = getattr(it, "_prefetch_ds_iter", None)
    if make_iterators is not None:
        make_iterators.start_prefetch()


class Loader:
    """Builds the dataset and its iterator (with workers, the processes start here)."""

    def __init__(self, spec, source):
        _flags_parsed()
        self.spec = spec
        self.its = []
        if source.images is None and spec["pipeline"]["cache"]:
            source = source.in_memory(self._decode_all(source.paths))
        schedule = Schedule.of(spec, source.n)
        ds = grain.MapDataset.range(schedule.endless).map(Sample(source, schedule))
        self.it = self._start(ds.batch(spec["batch_size"], drop_remainder=True))

    def _start(self, ds):
        s = settings(self.spec)
        ds = ds.to_iter_dataset(grain.ReadOptions(**s["read_options"]))
        if s["multiprocessing_options"]:
            ds = ds.mp_prefetch(grain.MultiprocessingOptions(**s["multiprocessing_options"]),
                                worker_init_fn=functools.partial(
                                    restore_affinity, protocol.CPUS_BEFORE_LIMIT))
        it = iter(ds)
        self.its.append(it)
        _start_workers(it)
        return it

    def _decode_all(self, paths):
        chunks = (len(paths) + _DECODE_CHUNK - 1) // _DECODE_CHUNK
        ds = grain.MapDataset.range(chunks).map(functools.partial(_decode_chunk, paths))
        it = self._start(ds)
        try:
            return np.concatenate([next(it) for _ in range(chunks)])
        finally:
            it.close()

    def next(self):
        """The next batch: (float32 [B, 3, 32, 32], int64 [B]) as numpy arrays."""
        batch = next(self.it)
        return batch["image"], batch["label"]

    def close(self):
        """Stops and joins the worker processes (their CPU time then counts as this
        process's children's)."""
        for it in self.its:
            it.close()
