"""CIFAR-10 binary files and the batch algorithm of docs/data.md, bit-identical to src/data/.

Every worker must feed its framework the same batches in the same order; this module is the
Python implementation of docs/data.md §1-4 (splitmix64 permutation and augmentation streams,
crop-then-flip, float32 normalisation through a lookup table).
"""
import os

import numpy as np

RECORD = 3073
TRAIN_FILES = [f"data_batch_{k}.bin" for k in range(1, 6)]
TEST_FILES = ["test_batch.bin"]
_M = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


class DataError(ValueError):
    pass


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M
    return z ^ (z >> 31)


class SplitMix64:
    def __init__(self, state):
        self.s = state & _M

    def next(self):
        self.s = (self.s + GOLDEN) & _M
        return mix64(self.s)

    def below(self, n):
        return self.next() % n


def read_split(data_dir, split):
    """Returns (images uint8 [N, 3, 32, 32], labels int64 [N]) of 'train' or 'test'."""
    if not os.path.isdir(data_dir):
        raise DataError(f"{data_dir}: not a directory (expected a CIFAR-10 binary folder with "
                        "data_batch_1..5.bin and test_batch.bin)")
    names = TRAIN_FILES if split == "train" else TEST_FILES
    missing = [n for n in names if not os.path.isfile(os.path.join(data_dir, n))]
    if missing:
        raise DataError(f"{data_dir}: missing {', '.join(missing)} (a CIFAR-10 binary folder has "
                        "data_batch_1..5.bin and test_batch.bin)")
    parts = []
    for n in names:
        path = os.path.join(data_dir, n)
        with open(path, "rb") as f:
            raw = f.read()
        if not raw:
            raise DataError(f"{path}: empty file")
        if len(raw) % RECORD:
            raise DataError(f"{path}: truncated record at byte offset {len(raw) // RECORD * RECORD} "
                            f"(file is {len(raw)} bytes; CIFAR-10 records are 3073 bytes)")
        recs = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD)
        bad = np.nonzero(recs[:, 0] >= 10)[0]
        if bad.size:
            i = int(bad[0])
            raise DataError(f"{path}: record {i} (byte offset {i * RECORD}) has label "
                            f"{recs[i, 0]}; CIFAR-10 labels are 0-9")
        parts.append(recs)
    recs = np.concatenate(parts)
    return recs[:, 1:].reshape(-1, 3, 32, 32).copy(), recs[:, 0].astype(np.int64)


def _normalisation_table():
    mean = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
    std = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)
    v = np.arange(256, dtype=np.float32) / np.float32(255)
    return ((v[None, :] - mean[:, None]) / std[:, None]).astype(np.float32)  # [3, 256]


LUT = _normalisation_table()


class Batcher:
    """Global batch b -> (float32 [B, 3, 32, 32], int64 [B]) per docs/data.md §4."""

    def __init__(self, images, labels, batch_size, augment, shuffle, seed):
        self.images, self.labels = images, labels
        self.n = len(images)
        self.batch_size = batch_size
        if self.n < batch_size:
            raise DataError(f"{self.n} images, fewer than one batch of {batch_size}")
        self.augment, self.shuffle, self.seed = augment, shuffle, seed & _M
        self.per_epoch = self.n // batch_size
        self._epoch, self._order = -1, None

    def _epoch_key(self, e):
        return self.seed ^ mix64((e + 1) & _M)

    def _order_of(self, e):
        if self._epoch != e:
            order = list(range(self.n))
            if self.shuffle:
                rng = SplitMix64(self._epoch_key(e))
                for i in range(self.n - 1, 0, -1):
                    j = rng.below(i + 1)
                    order[i], order[j] = order[j], order[i]
            self._epoch, self._order = e, order
        return self._order

    def _crop(self, image, e, p):
        if not self.augment:
            return image
        rng = SplitMix64(mix64(self._epoch_key(e) ^ mix64((p + 1) & _M)))
        dy, dx = rng.below(9), rng.below(9)
        flip = rng.below(2) == 1
        padded = np.zeros((3, 40, 40), dtype=np.uint8)
        padded[:, 4:36, 4:36] = image
        out = padded[:, dy:dy + 32, dx:dx + 32]
        return out[:, :, ::-1] if flip else out

    def fill(self, b):
        e, first = divmod(b, self.per_epoch)
        first *= self.batch_size
        order = self._order_of(e)
        crops = np.empty((self.batch_size, 3, 32, 32), dtype=np.uint8)
        labels = np.empty(self.batch_size, dtype=np.int64)
        for j in range(self.batch_size):
            k = order[first + j]
            crops[j] = self._crop(self.images[k], e, first + j)
            labels[j] = self.labels[k]
        return normalise(crops), labels

    def fixed(self, indices):
        """Images by index, file order, no augmentation (the parity batch)."""
        idx = np.asarray(indices, dtype=np.int64)
        return normalise(self.images[idx]), self.labels[idx].copy()


def normalise(crops):
    out = np.empty(crops.shape, dtype=np.float32)
    for c in range(3):
        out[:, c] = LUT[c][crops[:, c]]
    return out


# --- the same schedule, vectorised, for the input_pipeline task ----------------------------

def _mix64_np(z):
    """mix64 on a uint64 array (numpy's uint64 arithmetic wraps modulo 2**64, as the C++ does)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def epoch_schedule(n, seed, epoch, shuffle, augment):
    """Epoch `epoch`'s schedule of docs/data.md §4 for n records, what Batcher draws one image at
    a time: (order int64[n], the record at each position; dy, dx uint8[n] and flip bool[n], the
    crop and flip at each position). An input pipeline (the input_pipeline task) takes its
    randomness from here and does the work with its framework's own tools, so every loader
    delivers Batcher's batches. The Fisher-Yates draws are vectorised; the swaps, sequential by
    nature, run on a Python list (about 20 ms for 50 000 records)."""
    key = np.uint64((seed & _M) ^ mix64((epoch + 1) & _M))
    g = np.uint64(GOLDEN)
    with np.errstate(over="ignore"):
        if shuffle and n > 1:
            i = np.arange(n - 1, 0, -1, dtype=np.uint64)  # i = n-1 .. 1, draw k = n - i
            draws = _mix64_np(key + (np.uint64(n) - i) * g) % (i + np.uint64(1))
            order = list(range(n))
            for i_, j in zip(range(n - 1, 0, -1), draws.tolist()):
                order[i_], order[j] = order[j], order[i_]
            order = np.array(order, dtype=np.int64)
        else:
            order = np.arange(n, dtype=np.int64)
        if augment:
            s = _mix64_np(key ^ _mix64_np(np.arange(1, n + 1, dtype=np.uint64)))
            dy = (_mix64_np(s + g) % np.uint64(9)).astype(np.uint8)
            dx = (_mix64_np(s + g * np.uint64(2)) % np.uint64(9)).astype(np.uint8)
            flip = _mix64_np(s + g * np.uint64(3)) % np.uint64(2) == 1
        else:
            dy = np.full(n, 4, dtype=np.uint8)
            dx = np.full(n, 4, dtype=np.uint8)
            flip = np.zeros(n, dtype=bool)
    return order, dy, dx, flip


def crop_flip(image, dy, dx, flip):
    """One uint8 CHW 32x32 image, zero-padded by 4, cropped at (dy, dx), flipped horizontally
    when `flip` (docs/data.md §4.4): Batcher's augmentation; (4, 4, False) is the identity."""
    padded = np.zeros((image.shape[0], 40, 40), dtype=np.uint8)
    padded[:, 4:36, 4:36] = image
    out = padded[:, dy:dy + 32, dx:dx + 32]
    return np.ascontiguousarray(out[:, :, ::-1] if flip else out)


def augment_batch(images, dy, dx, flip):
    """crop_flip on a batch (uint8 [B, 3, 32, 32] and the per-image dy, dx, flip) at once."""
    b = len(images)
    padded = np.zeros((b, images.shape[1], 40, 40), dtype=np.uint8)
    padded[:, :, 4:36, 4:36] = images
    span = np.arange(32)
    rows = np.asarray(dy, dtype=np.int64)[:, None] + span
    cols = np.asarray(dx, dtype=np.int64)[:, None] + span
    cols = np.where(np.asarray(flip, dtype=bool)[:, None], cols[:, ::-1], cols)
    channels = np.arange(images.shape[1])[None, :, None, None]
    return padded[np.arange(b)[:, None, None, None], channels, rows[:, None, :, None],
                  cols[:, None, None, :]]
