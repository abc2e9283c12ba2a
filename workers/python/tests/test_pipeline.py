"""Tests of the input_pipeline task's loaders (PyTorch DataLoader, tf.data, Grain) in whichever
interpreter runs them: each loader whose framework imports here must deliver cifar.Batcher's
batches bit for bit, with and without worker processes, from CIFAR-10 files and from an image
folder decoded by its own decoder; an unreadable image must end the iteration with a DataError
naming the file, never a hang; and a whole trial through the worker's entry point must write the
task's event stream. A framework that does not import is skipped, naming the module and the
interpreter.

    cd workers/python && PYTHON -m unittest -v tests.test_pipeline

The files (a CIFAR-10 binary folder of 6 x 40 records, an image folder of 3 classes with PNG and
JPEG files, a folder with a corrupt file, one with an image of the wrong size) are written to a
temporary folder by the test itself.
"""
import faulthandler
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

WORKERS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, WORKERS_DIR)

from fwbench_workers import cifar, image_folder, pipeline_common, safetensors_np  # noqa: E402
from fwbench_workers.protocol import UsageError, read_spec  # noqa: E402

SEED = 0x5EED
CIFAR_BATCH = 16    # 200 training records: 12 batches an epoch, 8 records dropped
FOLDER_BATCH = 4    # 12 images: 3 batches an epoch
HANG_S = 90         # an iteration that takes this long is a hang: the watchdog ends the run


# Modules that must import (comma-separated): CTest names what install-deps put into each
# environment, so a broken install fails instead of skipping.
REQUIRED = {m for m in os.environ.get("FWBENCH_REQUIRE_MODULES", "").split(",") if m}


def _missing(*modules):
    """Why a framework's loader cannot be tested here ("" when it can)."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as e:
            if module in REQUIRED:
                raise
            return f"{e.name or module} is not importable with {sys.executable}"
    return ""


FILES = None  # the temporary folder's paths, set by setUpModule


def setUpModule():
    global FILES
    root = tempfile.mkdtemp(prefix="fwbench-pipeline-test-")
    rng = np.random.default_rng(11)
    cifar_dir = os.path.join(root, "cifar")
    os.makedirs(cifar_dir)
    for name in cifar.TRAIN_FILES + cifar.TEST_FILES:
        records = rng.integers(0, 256, (40, cifar.RECORD), dtype=np.uint8)
        records[:, 0] = rng.integers(0, 10, 40)
        with open(os.path.join(cifar_dir, name), "wb") as f:
            f.write(records.tobytes())
    FILES = {"root": root, "cifar": cifar_dir}
    if _missing("PIL"):
        return
    from PIL import Image

    def picture(i, size=(32, 32)):
        # Smooth colour ramps plus noise: a JPEG of it exercises the IDCT and chroma upsampling.
        yy, xx = np.mgrid[0:size[1], 0:size[0]]
        base = np.stack([(xx * 8 + i * 20) % 256, (yy * 8) % 256, ((xx + yy) * 4) % 256], -1)
        noisy = base + rng.integers(-40, 40, (size[1], size[0], 3))
        return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))

    def folder(name, skip=()):
        top = os.path.join(root, name)
        for c, cls in enumerate(("cat", "dog", "eel")):
            os.makedirs(os.path.join(top, cls))
            for j in range(4):
                if (cls, j) in skip:
                    continue
                path = os.path.join(top, cls, f"{cls}{j}.{'png' if j % 2 else 'jpg'}")
                picture(c * 4 + j).save(path, **({} if j % 2 else {"quality": 90}))
        return top
    FILES["folder"] = folder("images")
    FILES["corrupt"] = folder("corrupt", skip={("dog", 1)})
    with open(os.path.join(FILES["corrupt"], "dog", "bad.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n this is not an image")
    FILES["sized"] = folder("sized", skip={("cat", 2), ("cat", 3), ("dog", 2), ("dog", 3),
                                           ("eel", 2), ("eel", 3)})
    picture(99, size=(33, 32)).save(os.path.join(FILES["sized"], "eel", "wide.png"))


def tearDownModule():
    shutil.rmtree(FILES["root"], ignore_errors=True)


def pipeline_spec(source, workers, batch, cache=False, images_dir=""):
    return {"batch_size": batch, "seed": SEED, "device": "cpu",
            "data": {"dir": FILES["cifar"], "augment": True, "shuffle": True},
            "pipeline": {"loader": "", "workers": workers, "source": source,
                         "images_dir": images_dir, "model_step": "none", "cache": cache,
                         "check_batches": 0}}


class Watchdog:
    """A hang ends the whole run with every thread's traceback instead of blocking forever."""

    def __enter__(self):
        faulthandler.dump_traceback_later(HANG_S, exit=True)

    def __exit__(self, *_):
        faulthandler.cancel_dump_traceback_later()


class _Loader:
    """The cases every loader must pass; a subclass per framework names its module."""
    MODULE = ""
    WORKER_ARGS = ()  # the worker's framework argument, mode and loader
    PROCESSES = True  # whether workers > 0 means worker processes

    def loader(self, spec, source):
        module = importlib.import_module(f"fwbench_workers.{self.MODULE}")
        return module.Loader(spec, source)

    def check_batches(self, spec, source, reference, count):
        with Watchdog():
            loader = self.loader(spec, source)
            try:
                for b in range(count):
                    x, y = loader.next()
                    want_x, want_y = reference.fill(b)
                    self.assertEqual((x.dtype, x.shape), (np.float32, want_x.shape))
                    self.assertEqual((y.dtype, y.shape), (np.int64, want_y.shape))
                    np.testing.assert_array_equal(y, want_y, f"labels of batch {b}")
                    # Bit for bit: the same floats, not merely close ones.
                    self.assertEqual(x.tobytes(), want_x.tobytes(), f"images of batch {b}")
            finally:
                loader.close()

    def test_cifar_batches_are_the_batchers_bit_for_bit_with_0_1_and_2_workers(self):
        images, labels = cifar.read_split(FILES["cifar"], "train")
        reference = cifar.Batcher(images, labels, CIFAR_BATCH, True, True, SEED)
        source = pipeline_common.read_source(pipeline_spec("cifar10-bin", 0, CIFAR_BATCH))
        for workers in (0, 1, 2):
            with self.subTest(workers=workers):
                self.check_batches(pipeline_spec("cifar10-bin", workers, CIFAR_BATCH), source,
                                   reference, 14)  # into the second epoch

    def test_image_folder_batches_are_the_batchers_on_pillows_pixels(self):
        # PNG is lossless; the JPEG files decode to the same pixels in Pillow, torchvision and
        # tf.io.decode_jpeg(dct_method="INTEGER_ACCURATE"): all three run libjpeg's islow IDCT
        # with its default (fancy) chroma upsampling. (tf.io.decode_image's own JPEG path
        # differs by up to 5 levels: the loader does not use it for JPEG.)
        if "folder" not in FILES:
            self.skipTest(f"PIL is not importable with {sys.executable}: no images written")
        paths, labels, _ = image_folder.list_images(FILES["folder"])
        reference = cifar.Batcher(image_folder.decode_all_pillow(paths), labels, FOLDER_BATCH,
                                  True, True, SEED)
        for workers, cache in ((0, False), (1, False), (1, True)):
            with self.subTest(workers=workers, cache=cache):
                spec = pipeline_spec("image-folder", workers, FOLDER_BATCH, cache,
                                     FILES["folder"])
                self.check_batches(spec, pipeline_common.read_source(spec), reference, 5)

    def expect_data_error(self, folder, workers, cache, batch, names):
        spec = pipeline_spec("image-folder", workers, batch, cache, folder)
        with Watchdog(), self.assertRaises(cifar.DataError) as caught:
            loader = self.loader(spec, pipeline_common.read_source(spec))
            try:
                for _ in range(3):  # a whole epoch
                    loader.next()
            finally:
                loader.close()
        message = str(caught.exception)
        self.assertEqual(len(message.splitlines()), 1, message)
        for name in names:
            self.assertIn(name, message)

    def test_an_unreadable_image_is_a_data_error_naming_the_file(self):
        if "corrupt" not in FILES:
            self.skipTest(f"PIL is not importable with {sys.executable}: no images written")
        bad = os.path.join(FILES["corrupt"], "dog", "bad.png")
        for workers, cache in ((0, False), (1, False), (1, True)):
            with self.subTest(workers=workers, cache=cache):
                self.expect_data_error(FILES["corrupt"], workers, cache, FOLDER_BATCH,
                                       [bad + ": cannot decode the image ("])

    def test_an_image_of_another_size_is_a_data_error_naming_it(self):
        if "sized" not in FILES:
            self.skipTest(f"PIL is not importable with {sys.executable}: no images written")
        wide = os.path.join(FILES["sized"], "eel", "wide.png")
        self.expect_data_error(FILES["sized"], 0, False, 7,
                               [wide + ": image is 33x32; the input_pipeline task feeds 32x32"])

    def test_a_trial_through_the_worker_entry_point(self):
        reason = _missing("threadpoolctl")
        if reason:
            self.skipTest(f"{reason}: a trial reads its thread pools back with it")
        framework, mode, loader = self.WORKER_ARGS
        out = os.path.join(FILES["root"], f"trial-{framework}")
        os.makedirs(out, exist_ok=True)
        spec = {"protocol_version": 1, "trial_id": "t", "config_id": "c",
                "workload": "image_classification", "task": "input_pipeline",
                "backend": framework, "mode": mode, "device": "cpu", "threads": 1,
                "seed": SEED, "model": {"arch": "resnet18", "num_classes": 10, "stem": "cifar"},
                "data": {"augment": True, "dir": FILES["cifar"], "format": "cifar10-bin",
                         "shuffle": True},
                "weights": "", "batch_size": CIFAR_BATCH, "parity_batch": 0,
                "optimizer": {"lr": 0.01, "momentum": 0.9, "name": "sgd",
                              "weight_decay": 0.0},
                "budget": {"min_steps": 3, "max_steps": 3, "min_seconds": 0.0,
                           "max_seconds": 30.0},
                "output_dir": out,
                "pipeline": {"loader": loader, "workers": 1, "source": "cifar10-bin",
                             "images_dir": "", "model_step": "none", "cache": False,
                             "check_batches": 2}}
        path = os.path.join(out, "spec.json")
        with open(path, "w") as f:
            json.dump(spec, f)
        run = subprocess.run([sys.executable, os.path.join(WORKERS_DIR, "fwbench_worker.py"),
                              framework, path], capture_output=True, text=True, timeout=180)
        events = [json.loads(line) for line in run.stdout.splitlines()]
        self.assertEqual(run.returncode, 0, run.stderr[-3000:] + run.stdout[-2000:])
        kinds = [e["event"] for e in events]
        self.assertEqual(kinds[0], "hello")
        hello = events[0]["extra"]["pipeline"]
        self.assertEqual((hello["loader"], hello["workers"]), (loader, 1))
        self.assertTrue(hello["settings"] and hello["recommended"])
        loader_pools = [(p["role"], p["set"], p["read"]) for p in events[0]["thread_pools"]
                        if p["role"] == "loader"]
        self.assertEqual(loader_pools, [("loader", 1, 1)])
        phases = [e["name"] for e in events if e["event"] == "phase"]
        self.assertEqual(phases, ["import", "threads", "data", "loader"])
        steps = [e for e in events if e["event"] == "step"]
        self.assertEqual([(s["i"], s["samples"], s["loss"]) for s in steps],
                         [(i, CIFAR_BATCH, None) for i in range(3)])
        metrics = {e["name"]: e for e in events if e["event"] == "metric"}
        self.assertEqual(metrics["pipeline_samples"]["value"], 3 * CIFAR_BATCH)
        self.assertGreater(metrics["pipeline_cpu_s"]["value"], 0)
        self.assertGreater(metrics["peak_rss_bytes"]["value"], 0)
        # The worker process (and Grain's multiprocessing resource tracker); tf.data has none.
        self.assertEqual(metrics["loader_processes"]["value"] >= 1, self.PROCESSES)
        outputs = [e for e in events if e["event"] == "output"]
        self.assertEqual([o["name"] for o in outputs], ["pipeline_batches"])
        self.assertEqual((kinds[-1], events[-1]["steps"]), ("done", 3))
        tensors, _ = safetensors_np.read(outputs[0]["path"])
        images, labels = cifar.read_split(FILES["cifar"], "train")
        reference = cifar.Batcher(images, labels, CIFAR_BATCH, True, True, SEED)
        want = [reference.fill(b) for b in (0, 1)]
        self.assertEqual(tensors["images"].tobytes(),
                         np.concatenate([x for x, _ in want]).tobytes())
        np.testing.assert_array_equal(tensors["labels"], np.concatenate([y for _, y in want]))


_TORCH = _missing("torch", "torchvision")
_TF = _missing("tensorflow")
_GRAIN = _missing("grain", "jax", "PIL")


@unittest.skipIf(_TORCH, _TORCH)
class DataLoader(_Loader, unittest.TestCase):
    MODULE = "pipeline_torch"
    WORKER_ARGS = ("torch", "eager", "dataloader")


@unittest.skipIf(_TF, _TF)
class TfData(_Loader, unittest.TestCase):
    MODULE = "pipeline_tf"
    WORKER_ARGS = ("tensorflow", "xla", "tf.data")
    PROCESSES = False  # threads of its runtime


@unittest.skipIf(_GRAIN, _GRAIN)
class Grain(_Loader, unittest.TestCase):
    MODULE = "pipeline_grain"
    WORKER_ARGS = ("jax", "jit", "grain")


class Shared(unittest.TestCase):
    """What needs numpy only: the folder listing, the spec's pipeline object, the message
    a worker process's DataError arrives as."""

    def test_the_folder_lists_classes_in_order_and_files_by_name(self):
        if "folder" not in FILES:
            self.skipTest(f"PIL is not importable with {sys.executable}: no images written")
        paths, labels, classes = image_folder.list_images(FILES["folder"])
        self.assertEqual(classes, ["cat", "dog", "eel"])
        self.assertEqual([os.path.basename(p) for p in paths[:4]],
                         ["cat0.jpg", "cat1.png", "cat2.jpg", "cat3.png"])
        np.testing.assert_array_equal(labels, np.repeat([0, 1, 2], 4))

    def test_a_folder_that_is_not_one_says_what_to_do(self):
        empty = os.path.join(FILES["root"], "empty")
        os.makedirs(os.path.join(empty, "cls"), exist_ok=True)
        with open(os.path.join(empty, "cls", "notes.txt"), "w") as f:
            f.write("no image")
        for folder, says in ((os.path.join(FILES["root"], "nowhere"), "not a directory"),
                             (FILES["cifar"], "no class folders"),
                             (empty, "no images in its class folders (cls)")):
            with self.assertRaisesRegex(cifar.DataError, re.escape(says)):
                image_folder.list_images(folder)

    def test_the_pipeline_object_is_read_and_checked(self):
        base = {"protocol_version": 1, "trial_id": "t", "config_id": "c",
                "workload": "image_classification", "task": "input_pipeline",
                "backend": "pytorch", "mode": "eager", "device": "cpu", "threads": 1,
                "seed": 1, "model": {"arch": "resnet18", "num_classes": 10, "stem": "cifar"},
                "data": {"augment": True, "dir": "/tmp", "format": "cifar10-bin",
                         "shuffle": True},
                "weights": "", "batch_size": 2, "parity_batch": 0,
                "optimizer": {"lr": 0.01, "momentum": 0.9, "name": "sgd", "weight_decay": 0.0},
                "budget": {"max_seconds": 10.0, "max_steps": 5, "min_seconds": 0.0,
                           "min_steps": 5},
                "output_dir": "/tmp"}
        pipeline = {"loader": "dataloader", "workers": 2, "source": "image-folder",
                    "images_dir": "/data/images", "model_step": "train", "cache": True,
                    "check_batches": 1}
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "spec.json")

            def read(spec):
                with open(path, "w") as f:
                    json.dump(spec, f)
                return read_spec(path)
            self.assertEqual(read({**base, "pipeline": pipeline})["pipeline"], pipeline)
            self.assertIsNone(read({**base, "task": "train"})["pipeline"])
            for bad, says in (({}, "task input_pipeline needs the pipeline object"),
                              ({"pipeline": {**pipeline, "loader": "dali"}},
                               "pipeline.loader is 'dali'; expected one of dataloader, "
                               "tf.data, grain, cpp"),
                              ({"pipeline": {**pipeline, "workers": -1}}, "must be >= 0"),
                              ({"pipeline": {**pipeline, "model_step": "infer"}},
                               "pipeline.model_step"),
                              ({"pipeline": {**pipeline, "images_dir": ""}},
                               "needs pipeline.images_dir"),
                              ({"pipeline": {**pipeline, "threads": 1}},
                               "unknown field pipeline.threads")):
                with self.subTest(says=says), self.assertRaisesRegex(UsageError, says):
                    read({**base, **bad})

    def test_a_worker_process_traceback_becomes_its_one_line_message(self):
        wrapped = cifar.DataError(
            "Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent "
            "call last):\n  File \"x.py\", line 1, in f\n    raise e\n"
            "fwbench_workers.cifar.DataError: /d/dog/bad.png: cannot decode the image (oops)\n")
        self.assertEqual(str(pipeline_common.one_line_data_error(wrapped)),
                         "/d/dog/bad.png: cannot decode the image (oops)")
        self.assertEqual(str(pipeline_common.one_line_data_error(cifar.DataError("a: b"))),
                         "a: b")


if __name__ == "__main__":
    unittest.main()
