"""The input_pipeline task's TensorFlow loader: a tf.data pipeline.

The shared seed schedule enters as one element per epoch (Dataset.from_generator, the epoch's
whole batches), unbatched into one (record, dy, dx, flip) element per sample; a map of tf ops
gathers the record from memory (tf.gather) or reads and decodes its file (tf.io.read_file,
tf.io.decode_image; JPEG through tf.io.decode_jpeg with dct_method INTEGER_ACCURATE, libjpeg's
default islow IDCT, as Pillow and torchvision decode), pad-crops, flips and normalises it
(a [3, 256] float32 lookup table, tf.gather); then batch(drop_remainder=True). Workers 0: a
sequential pipeline, nothing in the background. Workers w >= 1: the map runs in parallel
(AUTOTUNE) on a private pool of w threads, and the pipeline ends in prefetch(AUTOTUNE).

cache (image folder): the decode stage goes through Dataset.cache() once, in the loader phase:
Dataset.from_tensor_slices(paths).map(decode).cache(), in record order with the same options,
materialised into one uint8 tensor that the augmenting pipeline then gathers from as it does
CIFAR-10's records (the shuffled order needs random access, which a cached dataset has not).
For cifar10-bin the option is ignored: the records are in memory already.
"""
import tensorflow as tf

from . import cifar, image_folder
from .pipeline_common import Schedule, source_settings
from .protocol import pool

LOADER = "tf.data"
RECOMMENDED = ("tf.data performance guide (Better performance with the tf.data API): "
               "parallelise map with num_parallel_calls=tf.data.AUTOTUNE, and \"Most dataset "
               "input pipelines should end with a call to prefetch\" (tf.data.AUTOTUNE)")


def settings(spec):
    """What the loader sets, for hello (and the loader itself)."""
    p = spec["pipeline"]
    w = p["workers"]
    out = {"schedule": "Dataset.from_generator (one element per epoch) then unbatch",
           "map_num_parallel_calls": "tf.data.AUTOTUNE" if w > 0 else None,
           "map_deterministic": True if w > 0 else None,
           "batch": {"drop_remainder": True},
           "prefetch": "tf.data.AUTOTUNE" if w > 0 else None,
           "options.deterministic": True,
           "options.threading.private_threadpool_size": max(w, 1),
           "options.threading.max_intra_op_parallelism": 1,
           "options.autotune.cpu_budget": w if w > 0 else None,
           "transforms": "tf.pad, strided slice, tf.reverse, tf.gather on a [3, 256] float32 "
                         "lookup table (docs/data.md §4.6)"}
    if w == 0:
        # tf.data would otherwise parallelise the map and add a prefetch by itself.
        out["options.experimental_optimization.map_parallelization"] = False
        out["options.experimental_optimization.inject_prefetch"] = False
        out["options.autotune.enabled"] = False
    out.update(source_settings(
        spec, "tf.io.decode_image(channels=3, expand_animations=False); JPEG: "
              "tf.io.decode_jpeg(channels=3, dct_method=\"INTEGER_ACCURATE\")",
        "every file decoded once in record order by Dataset.from_tensor_slices(paths)"
        ".map(decode).cache() with these options, materialised in the loader phase, then "
        "augmented from memory"))
    return out


def _options(spec):
    s = settings(spec)
    options = tf.data.Options()
    options.deterministic = True
    options.threading.private_threadpool_size = s["options.threading.private_threadpool_size"]
    options.threading.max_intra_op_parallelism = 1
    if s["options.autotune.cpu_budget"] is not None:
        options.autotune.cpu_budget = s["options.autotune.cpu_budget"]
    if "options.autotune.enabled" in s:
        options.experimental_optimization.map_parallelization = False
        options.experimental_optimization.inject_prefetch = False
        options.autotune.enabled = False
    return options


def pools(spec):
    """hello's loader pool (docs/protocol.md): tf.data's private thread pool, as the options
    hold it. None without workers (the protocol has no loader pool then): the sequential
    pipeline's pool of 1 works only while the caller waits for it."""
    w = spec["pipeline"]["workers"]
    if w == 0:
        return []
    held = _options(spec).threading.private_threadpool_size
    return [pool("tf.data private thread pool (options.threading.private_threadpool_size)",
                 "loader", w, held)]


def decode(path):
    """tf.io's decode of one file (a string tensor): uint8 CHW [3, 32, 32]. In a pipeline an
    unreadable file fails the iteration without its name; Loader finds it (_culprit)."""
    raw = tf.io.read_file(path)
    image = tf.cond(
        tf.io.is_jpeg(raw),
        lambda: tf.io.decode_jpeg(raw, channels=3, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(raw, channels=3, expand_animations=False))
    tf.debugging.assert_equal(tf.shape(image), tf.constant([32, 32, 3]),
                              message="image is not 32x32")
    return tf.transpose(tf.ensure_shape(image, [32, 32, 3]), [2, 0, 1])


def _decode_eagerly(path):
    """decode() on one file outside tf.data, for the error message a pipeline cannot give."""
    try:
        raw = tf.io.read_file(path)
        if bool(tf.io.is_jpeg(raw)):
            image = tf.io.decode_jpeg(raw, channels=3, dct_method="INTEGER_ACCURATE")
        else:
            image = tf.io.decode_image(raw, channels=3, expand_animations=False)
    except tf.errors.OpError as e:
        raise image_folder.decode_error(path, e.message) from None
    image_folder.check_size(path, image.shape[0], image.shape[1], image.shape[2])


def _culprit(paths, records, error):
    """The DataError for the first of `records` whose file fails to decode alone, else
    `error` itself (not a decode failure)."""
    for k in records:
        _decode_eagerly(paths[k])
    raise error


class Loader:
    """Builds the pipeline and its iterator (with workers, the background threads start
    here)."""

    def __init__(self, spec, source):
        self.spec, self.source = spec, source
        self.options = _options(spec)
        self.batches = 0
        if source.images is None and spec["pipeline"]["cache"]:
            self.source = source.in_memory(self._decode_all(source.paths))
        self.schedule = Schedule.of(spec, self.source.n)
        self.it = iter(self._pipeline())

    def _parallel(self):
        return tf.data.AUTOTUNE if self.spec["pipeline"]["workers"] > 0 else None

    def _map(self, ds, fn):
        if self._parallel() is None:
            return ds.map(fn)
        return ds.map(fn, num_parallel_calls=self._parallel(), deterministic=True)

    def _decode_all(self, paths):
        files = tf.data.Dataset.from_tensor_slices(tf.constant(paths))
        decoded = self._map(files, decode).cache().batch(len(paths))
        try:
            return decoded.with_options(self.options).get_single_element().numpy()
        except tf.errors.OpError as e:
            _culprit(paths, range(len(paths)), e)

    def _pipeline(self):
        schedule, source = self.schedule, self.source
        m = schedule.epoch_samples

        def epochs():
            e = 0
            while True:
                order, dy, dx, flip = schedule.epoch(e)
                yield order, dy.astype("int32"), dx.astype("int32"), flip
                e += 1
        ds = tf.data.Dataset.from_generator(epochs, output_signature=(
            tf.TensorSpec([m], tf.int64), tf.TensorSpec([m], tf.int32),
            tf.TensorSpec([m], tf.int32), tf.TensorSpec([m], tf.bool))).unbatch()
        labels = tf.constant(source.labels)
        lut = tf.constant(cifar.LUT)
        if source.images is not None:
            images = tf.constant(source.images)
            record = lambda k: tf.gather(images, k)  # noqa: E731
        else:
            paths = tf.constant(source.paths)
            record = lambda k: decode(tf.gather(paths, k))  # noqa: E731

        def sample(k, dy, dx, flip):
            padded = tf.pad(record(k), [[0, 0], [4, 4], [4, 4]])
            crop = padded[:, dy:dy + 32, dx:dx + 32]
            crop = tf.cond(flip, lambda: tf.reverse(crop, [2]), lambda: crop)
            x = tf.gather(lut, tf.cast(crop, tf.int32), axis=1, batch_dims=1)
            return tf.ensure_shape(x, [3, 32, 32]), tf.gather(labels, k)
        ds = self._map(ds, sample).batch(self.spec["batch_size"], drop_remainder=True)
        if self._parallel() is not None:
            ds = ds.prefetch(tf.data.AUTOTUNE)
        return ds.with_options(self.options)

    def next(self):
        """The next batch: (float32 [B, 3, 32, 32], int64 [B]) as numpy arrays."""
        try:
            x, y = next(self.it)
        except tf.errors.OpError as e:
            if self.source.paths is None or self.source.images is not None:
                raise
            _culprit(self.source.paths, self.schedule.records_of_batch(self.batches), e)
        self.batches += 1
        return x.numpy(), y.numpy()

    def close(self):
        """Drops the iterator, which stops its background threads."""
        self.it = None
