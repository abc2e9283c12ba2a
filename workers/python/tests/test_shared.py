"""Tests of the Python workers' shared code that need numpy only: the batcher against the
specification's fixed points, safetensors round trips, and the Keras weight layout conversion
(checked by computing the same convolution and linear layer both ways)."""
import os
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from fwbench_workers import cifar, keras_resnet, safetensors_np  # noqa: E402


def conv_nchw_oihw(x, w, stride, pad):
    n, c, h, wd = x.shape
    o, i, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    out = np.zeros((n, o, oh, ow))
    for y in range(oh):
        for x_ in range(ow):
            patch = xp[:, :, y * stride:y * stride + kh, x_ * stride:x_ * stride + kw]
            out[:, :, y, x_] = np.einsum("ncij,ocij->no", patch, w)
    return out


def conv_nhwc_hwio(x, w, stride, pad):
    n, h, wd, c = x.shape
    kh, kw, i, o = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    out = np.zeros((n, oh, ow, o))
    for y in range(oh):
        for x_ in range(ow):
            patch = xp[:, y * stride:y * stride + kh, x_ * stride:x_ * stride + kw, :]
            out[:, y, x_, :] = np.einsum("nijc,ijco->no", patch, w)
    return out


class KerasLayout(unittest.TestCase):
    def test_conv_kernel_computes_the_same_convolution_in_nhwc(self):
        rng = np.random.default_rng(1)
        x = rng.standard_normal((2, 3, 9, 9))
        w = rng.standard_normal((4, 3, 3, 3))
        want = conv_nchw_oihw(x, w, stride=2, pad=1)
        got = conv_nhwc_hwio(x.transpose(0, 2, 3, 1), keras_resnet.conv_kernel(w), 2, 1)
        np.testing.assert_allclose(got.transpose(0, 3, 1, 2), want, rtol=1e-12, atol=1e-12)

    def test_a_wrong_layout_would_be_caught(self):
        rng = np.random.default_rng(2)
        x = rng.standard_normal((1, 3, 5, 5))
        w = rng.standard_normal((4, 3, 3, 3))
        wrong = np.ascontiguousarray(w.transpose(3, 2, 1, 0))  # HWIO with H and W swapped
        got = conv_nhwc_hwio(x.transpose(0, 2, 3, 1), wrong, 1, 1).transpose(0, 3, 1, 2)
        self.assertGreater(np.abs(got - conv_nchw_oihw(x, w, 1, 1)).max(), 1e-3)

    def test_dense_kernel_computes_the_same_linear_layer(self):
        rng = np.random.default_rng(3)
        x = rng.standard_normal((5, 7))
        w = rng.standard_normal((3, 7))
        np.testing.assert_allclose(x @ keras_resnet.dense_kernel(w), x @ w.T, rtol=1e-12)


class Batcher(unittest.TestCase):
    def test_splitmix64_matches_the_reference_sequence(self):
        # splitmix64 seeded with 0: the published first outputs.
        g = cifar.SplitMix64(0)
        self.assertEqual(g.next(), 0xE220A8397B1DCDAF)
        self.assertEqual(g.next(), 0x6E789E6AA1B965F4)

    def test_normalisation_table_rounds_every_operation_to_float32(self):
        v = np.float32(200) / np.float32(255)
        want = (np.float32(v) - np.float32(0.4914)) / np.float32(0.2470)
        self.assertEqual(cifar.LUT[0][200], np.float32(want))

    def test_batches_cover_an_epoch_once_and_augmentation_is_deterministic(self):
        images = np.arange(10 * 3072, dtype=np.uint64).astype(np.uint8).reshape(10, 3, 32, 32)
        labels = np.arange(10, dtype=np.int64)
        a = cifar.Batcher(images, labels, 5, augment=True, shuffle=True, seed=7)
        b = cifar.Batcher(images, labels, 5, augment=True, shuffle=True, seed=7)
        seen = np.concatenate([a.fill(0)[1], a.fill(1)[1]])
        self.assertEqual(sorted(seen.tolist()), list(range(10)))
        np.testing.assert_array_equal(a.fill(3)[0], b.fill(3)[0])

    def test_the_vectorised_epoch_schedule_gives_the_batchers_batches_bit_for_bit(self):
        # The input_pipeline loaders draw from epoch_schedule and crop with augment_batch or
        # crop_flip: every batch must be Batcher.fill's, across epochs (51 records, batch 8:
        # 6 batches an epoch, 3 records dropped) and for every augment/shuffle combination.
        rng = np.random.default_rng(5)
        n, batch, seed = 51, 8, 0xDEADBEEFCAFEF00D
        images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.int64)
        for augment, shuffle in ((True, True), (True, False), (False, True), (False, False)):
            batcher = cifar.Batcher(images, labels, batch, augment, shuffle, seed)
            for b in (0, 1, 5, 6, 13, 20):
                e, p = divmod(b, batcher.per_epoch)
                order, dy, dx, flip = cifar.epoch_schedule(n, seed, e, shuffle, augment)
                at = slice(p * batch, (p + 1) * batch)
                want_x, want_y = batcher.fill(b)
                got = cifar.normalise(cifar.augment_batch(images[order[at]], dy[at], dx[at],
                                                          flip[at]))
                one = cifar.crop_flip(images[order[at][0]], dy[at][0], dx[at][0], flip[at][0])
                self.assertEqual(got.tobytes(), want_x.tobytes(), (augment, shuffle, b))
                self.assertEqual(cifar.normalise(one[None]).tobytes(), want_x[:1].tobytes())
                np.testing.assert_array_equal(labels[order[at]], want_y)
            self.assertEqual(sorted(cifar.epoch_schedule(n, seed, 2, shuffle, augment)[0]),
                             list(range(n)))


class Safetensors(unittest.TestCase):
    def test_round_trip_and_truncation_is_named(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.safetensors")
            t = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1], np.int64)}
            safetensors_np.write(path, t)
            got, _ = safetensors_np.read(path)
            np.testing.assert_array_equal(got["a"], t["a"])
            np.testing.assert_array_equal(got["b"], t["b"])
            with open(path, "rb") as f:
                blob = f.read()
            with open(path, "wb") as f:
                f.write(blob[:-4])
            with self.assertRaisesRegex(safetensors_np.SafetensorsError, "tensor 'b'"):
                safetensors_np.read(path)

    def test_bf16_checkpoints_are_widened_to_float32(self):
        # bfloat16 is the upper half of a float32: 1.5 = 0x3fc00000, -2.0 = 0xc0000000.
        import json
        import struct
        values = np.array([0x3fc0, 0xc000], dtype="<u2").tobytes()
        header = json.dumps({"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}})
        header = header.encode() + b" " * (-len(header) % 8)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bf16.safetensors")
            with open(path, "wb") as f:
                f.write(struct.pack("<Q", len(header)) + header + values)
            got, _ = safetensors_np.read(path)
            self.assertEqual(got["w"].dtype, np.float32)
            np.testing.assert_array_equal(got["w"], np.array([1.5, -2.0], np.float32))


if __name__ == "__main__":
    unittest.main()


class ConverterMessages(unittest.TestCase):
    """A converter's failure is a row of the portability matrix: its first line, and the line
    that names the operator, without the exporter's terminal colours."""

    def test_the_operator_line_is_kept_and_colours_are_dropped(self):
        from fwbench_workers.protocol import first_lines
        error = Exception("Failed to convert. \x1b[96mThis is step 3/3\x1b[0m of exporting.\n"
                          "- If there is a missing ONNX function, implement it.\n"
                          "## Exception summary\n"
                          "<class 'DispatchError'>: No ONNX function found for "
                          "<OpOverload(op='aten.linalg_eig', overload='default')>.\n")
        said = first_lines(error)
        self.assertTrue(said.startswith("Failed to convert. This is step 3/3 of exporting."))
        self.assertIn("No ONNX function found for <OpOverload(op='aten.linalg_eig'", said)
        self.assertNotIn("\x1b", said)
        self.assertNotIn("implement it", said)

    def test_a_one_line_error_is_itself_and_long_ones_are_cut(self):
        from fwbench_workers.protocol import first_lines
        self.assertEqual(first_lines(ValueError("Operator not supported: Foo")),
                         "Operator not supported: Foo")
        self.assertEqual(len(first_lines(ValueError("x" * 5000))), 700)


class ToolErrors(unittest.TestCase):
    """tf2onnx runs as a command: its ERROR lines (once each) are the row's message, else the
    exception its traceback ends with."""

    def test_error_lines_are_kept_once_and_a_traceback_gives_its_last_line(self):
        from fwbench_workers.protocol import tool_error
        log = ("2026-12-05 14:06:19,714 - INFO - Using tensorflow=2.21.0\n"
               "2026-12-05 14:06:19,800 - ERROR - Tensorflow op [Eig] is not supported\n"
               "2026-12-05 14:06:19,801 - ERROR - Unsupported ops: Counter({'Eig': 1})\n"
               "2026-12-05 14:06:19,802 - ERROR - Unsupported ops: Counter({'Eig': 1})\n")
        self.assertEqual(tool_error(log), "Tensorflow op [Eig] is not supported; Unsupported "
                         "ops: Counter({'Eig': 1})")
        self.assertEqual(tool_error("Traceback (most recent call last):\n  File x\n"
                                    "OSError: Cannot parse file\n"), "OSError: Cannot parse file")
        self.assertEqual(tool_error(""), "it failed without a message")
        self.assertEqual(tool_error("\x1b[31mERROR:\x1b[0m The conversion of Foo failed.\nok\n"),
                         "The conversion of Foo failed.")


class WrittenInPlace(unittest.TestCase):
    """A converter's output takes its path's place only when it is complete: a file or a folder
    (onnx2tf's SavedModel, replacing an older one), and a failure leaves neither it nor the
    temporary behind."""

    def test_a_file_and_a_folder_replace_their_path_and_a_failure_leaves_nothing(self):
        from fwbench_workers.protocol import written_in_place_of
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "model.onnx")
            with written_in_place_of(out, ".onnx") as tmp:
                self.assertTrue(tmp.endswith(".onnx"))
                with open(tmp, "w") as f:
                    f.write("new")
            with open(out) as f:
                self.assertEqual(f.read(), "new")
            folder = os.path.join(d, "saved")
            os.makedirs(os.path.join(folder, "old"))
            with written_in_place_of(folder) as tmp:
                os.makedirs(os.path.join(tmp, "variables"))
            self.assertEqual(os.listdir(folder), ["variables"])
            with self.assertRaises(RuntimeError):
                with written_in_place_of(os.path.join(d, "failed.onnx")) as tmp:
                    with open(tmp, "w") as f:
                        f.write("half")
                    raise RuntimeError("the converter gave up")
            self.assertEqual(sorted(os.listdir(d)), ["model.onnx", "saved"])


class UserModelSpec(unittest.TestCase):
    def test_a_module_spec_has_entry_and_import_path_and_a_file_spec_may_omit_them(self):
        import json
        from fwbench_workers.protocol import UsageError, read_spec
        base = {"protocol_version": 1, "trial_id": "t", "config_id": "c",
                "workload": "user_model", "task": "infer", "backend": "pytorch", "mode": "eager",
                "device": "cpu", "threads": 1, "seed": 1,
                "model": {"arch": "resnet18", "num_classes": 10, "stem": "imagenet"},
                "data": {"augment": False, "dir": "/tmp", "format": "rows", "shuffle": False},
                "weights": "", "batch_size": 2, "parity_batch": 2,
                "optimizer": {"lr": 0.01, "momentum": 0.9, "name": "sgd", "weight_decay": 0.0},
                "budget": {"max_seconds": 10.0, "max_steps": 50, "min_seconds": 0.2,
                           "min_steps": 10},
                "output_dir": "/tmp"}
        inputs = [{"name": "x", "dtype": "float32", "shape": [3]}]
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "spec.json")
            for um, entry in (({"file": "m.onnx", "format": "onnx", "inputs_file": "r",
                                "inputs": inputs}, ""),
                              ({"file": "", "format": "pytorch_module", "inputs_file": "r",
                                "inputs": inputs, "entry": "pkg.m:build",
                                "import_path": "/src"}, "pkg.m:build")):
                with open(path, "w") as f:
                    json.dump({**base, "user_model": um}, f)
                spec = read_spec(path)
                self.assertEqual(spec["user_model"]["entry"], entry)
            with open(path, "w") as f:
                json.dump({**base, "user_model": {**um, "module": "x"}}, f)
            with self.assertRaisesRegex(UsageError, "unknown field user_model.module"):
                read_spec(path)


class DataParallelSpec(unittest.TestCase):
    BASE = {"protocol_version": 1, "trial_id": "t", "config_id": "c",
            "workload": "image_classification", "task": "train_ddp", "backend": "pytorch",
            "mode": "eager", "device": "cpu", "threads": 1, "seed": 1,
            "model": {"arch": "resnet18", "num_classes": 10, "stem": "imagenet"},
            "data": {"augment": True, "dir": "/tmp", "format": "cifar10-bin", "shuffle": True},
            "weights": "", "batch_size": 2, "parity_batch": 2,
            "optimizer": {"lr": 0.01, "momentum": 0.9, "name": "sgd", "weight_decay": 0.0},
            "budget": {"max_seconds": 10.0, "max_steps": 20, "min_seconds": 0.0,
                       "min_steps": 20},
            "output_dir": "/tmp"}

    def read(self, spec):
        import json
        from fwbench_workers.protocol import read_spec
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "spec.json")
            with open(path, "w") as f:
                json.dump(spec, f)
            return read_spec(path)

    def test_the_ddp_object_is_required_checked_and_read(self):
        from fwbench_workers.protocol import UsageError
        spec = self.read({**self.BASE, "ddp": {"processes": 2, "hosts": 1}})
        self.assertEqual(spec["ddp"], {"processes": 2, "hosts": 1})
        with self.assertRaisesRegex(UsageError, "task train_ddp needs the ddp object"):
            self.read(self.BASE)
        with self.assertRaisesRegex(UsageError, "unknown field ddp.ranks"):
            self.read({**self.BASE, "ddp": {"processes": 2, "hosts": 1, "ranks": 2}})

    def test_a_rank_reads_its_number_and_peers_and_refuses_a_mismatch(self):
        from fwbench_workers import ddp
        from fwbench_workers.protocol import UsageError
        spec = {"ddp": {"processes": 2, "hosts": 2}}
        env = {"FWBENCH_DDP_RANK": "1", "FWBENCH_DDP_ADDRS": "10.231.0.1:29500,10.231.0.2:29500",
               "FWBENCH_DDP_IFNAME": "fwbnet"}
        saved = {k: os.environ.get(k) for k in env}
        try:
            os.environ.update(env)
            peers = ddp.Peers(spec)
            self.assertEqual((peers.rank, peers.world, peers.ifname), (1, 2, "fwbnet"))
            self.assertEqual(peers.master, ("10.231.0.1", 29500))
            os.environ["FWBENCH_DDP_ADDRS"] = "127.0.0.1:1"
            with self.assertRaisesRegex(UsageError, "names 1 rank addresses, not 2"):
                ddp.Peers(spec)
            os.environ["FWBENCH_DDP_RANK"] = "x"
            with self.assertRaisesRegex(UsageError, "FWBENCH_DDP_RANK is 'x'"):
                ddp.Peers(spec)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


class DxDriver(unittest.TestCase):
    """dx.py (fwbench dx): the shared numbers, the request, and the driver's outcomes with a port
    that needs no framework."""

    def test_the_numbers_every_port_shares(self):
        from fwbench_workers import dx
        w = dx.weights()
        self.assertEqual(w["hidden.weight"].shape, (dx.HIDDEN, dx.FEATURES))
        self.assertEqual(w["classifier.weight"].shape, (dx.CLASSES, dx.HIDDEN))
        self.assertAlmostEqual(float(w["hidden.weight"][2, 5]), 0.02 * np.sin(0.74 + 0.55 + 1.0),
                               places=7)
        x, y = dx.batch(2)
        self.assertEqual(x.shape, (dx.BATCH, dx.FEATURES))
        self.assertEqual(list(y[:3]), [2, 3, 4])  # samples 32, 33, 34
        self.assertEqual(dx.bad_sample(dx.BAD_SAMPLE).shape, (dx.BAD_FEATURES,))
        self.assertIn(dx.BAD_SAMPLE, dx.batch_indices(2))
        pixels = dx.raw_pixels(x)
        self.assertEqual(pixels.dtype, np.uint8)
        self.assertGreater(int(pixels.max()), 200)

    def run_port(self, port_source, fault="bad_batch"):
        import json
        import types
        from fwbench_workers import dx
        from fwbench_workers.protocol import EventWriter
        with tempfile.TemporaryDirectory() as d:
            # A port module without a file in the package: the driver imports it by name.
            port = types.ModuleType("fwbench_workers.dx_fake")
            port.__file__ = os.path.join(d, "dx_fake.py")
            exec(compile(port_source, port.__file__, "exec"), port.__dict__)
            sys.modules[port.__name__] = port
            request = os.path.join(d, "request.json")
            error_file = os.path.join(d, "error.txt")
            with open(request, "w") as f:
                json.dump({"fault": fault, "mode": "m", "threads": 1, "error_file": error_file,
                           "onnx_model": ""}, f)
            events_path = os.path.join(d, "events.jsonl")
            saved = dx.FRAMEWORKS
            dx.FRAMEWORKS = saved + ("fake",)
            try:
                with open(events_path, "w") as out:
                    self.assertEqual(dx.run("fake", request, EventWriter(out)), 0)
            finally:
                dx.FRAMEWORKS = saved
                sys.modules.pop(port.__name__, None)
            with open(events_path) as f:
                events = [json.loads(line) for line in f]
            text = ""
            if os.path.exists(error_file):
                with open(error_file) as f:
                    text = f.read()
            return events, text

    PORT = """
import os, sys
FRAMEWORK = "Fake"
def version(): return "1"
def not_applicable(fault, mode): return "no export here" if fault == "export_unsupported" else ""
def set_threads(n): pass
def bad_batch(request, window):
    window.step(0, 1.5)
    os.write(2, b"native log line\\n")
    print("a warning", file=sys.stderr)
    raise ValueError("sample 37 has 3071 values")
def exploding_loss(request, window):
    window.step(0, 2.0)
    window.step(1, float("nan"))
def wrong_dtype(request, window):
    return "ran"
"""

    def test_an_error_keeps_what_was_printed_and_where_the_error_starts(self):
        events, text = self.run_port(self.PORT)
        self.assertEqual([e["event"] for e in events],
                         ["dx_hello", "dx_start", "dx_step", "dx_end"])
        end = events[-1]
        self.assertEqual((end["outcome"], end["exception"], end["steps"]),
                         ("error", "ValueError", 1))
        self.assertTrue(text.startswith("native log line\na warning\n"))
        own = text[end["error_offset"]:]
        self.assertTrue(own.startswith("Traceback (most recent call last):\n"), own)
        self.assertTrue(own.rstrip().endswith("ValueError: sample 37 has 3071 values"))
        self.assertIn('dx_fake.py", line', own)
        self.assertNotIn("dx.py", own)  # the driver's own frame is left out
        self.assertGreaterEqual(end["t"], events[1]["t"])

    def test_loop_silent_and_not_applicable(self):
        events, _ = self.run_port(self.PORT, "exploding_loss")
        self.assertEqual(events[-1]["outcome"], "loop")
        self.assertEqual(events[-1]["message"], "loss is nan after step 1")
        self.assertEqual(events[-2], {"event": "dx_step", "i": 1, "loss": None, "finite": False})
        events, _ = self.run_port(self.PORT, "wrong_dtype")
        self.assertEqual((events[-1]["outcome"], events[-1]["note"]), ("silent", "ran"))
        events, text = self.run_port(self.PORT, "export_unsupported")
        self.assertEqual(events[-1], {"event": "dx_end", "outcome": "n/a",
                                      "reason": "no export here"})
        self.assertEqual(text, "")

    def test_the_javascript_numbers_are_numpys_bit_for_bit(self):
        import json
        import shutil
        import subprocess
        from fwbench_workers import dx
        node = shutil.which("node")
        if node is None:
            self.skipTest("node is not on PATH: workers/node/lib/dx.js not compared")
        lib = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "node", "lib",
                           "dx.js")
        script = ("const dx = require(process.argv[1]); const w = dx.weights();"
                  "const b = dx.batch(2); const hex = a => Buffer.from(a.buffer).toString('hex');"
                  "console.log(JSON.stringify({hidden: hex(w['hidden.weight'].data),"
                  "classifier: hex(w['classifier.weight'].data), x: hex(b.x),"
                  "y: Array.from(b.y), pixels: hex(dx.rawPixels(b.x)),"
                  "bad: hex(dx.badSample(dx.BAD_SAMPLE))}));")
        out = json.loads(subprocess.run([node, "-e", script, os.path.abspath(lib)], check=True,
                                        capture_output=True, text=True).stdout)
        w = dx.weights()
        x, y = dx.batch(2)
        self.assertEqual(out["hidden"], w["hidden.weight"].tobytes().hex())
        self.assertEqual(out["classifier"], w["classifier.weight"].tobytes().hex())
        self.assertEqual(out["x"], x.tobytes().hex())
        self.assertEqual(out["y"], y.tolist())
        self.assertEqual(out["pixels"], dx.raw_pixels(x).tobytes().hex())
        self.assertEqual(out["bad"], dx.bad_sample(dx.BAD_SAMPLE).tobytes().hex())

    def test_a_mode_a_port_does_not_run_is_named(self):
        from fwbench_workers import dx
        self.assertEqual(dx.other_mode("X", ("a", "b"), "a"), "")
        self.assertEqual(dx.other_mode("X", ("a", "b"), "c"),
                         "the X dx port runs modes a, b, not c")

    def test_a_bad_request_is_a_usage_error_naming_the_field(self):
        import json
        from fwbench_workers import dx
        from fwbench_workers.protocol import UsageError
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "r.json")
            with open(path, "w") as f:
                json.dump({"fault": "typo", "mode": "m", "threads": 1, "error_file": "e",
                           "onnx_model": ""}, f)
            with self.assertRaisesRegex(UsageError, "unknown fault 'typo'"):
                dx.read_request(path)
            with open(path, "w") as f:
                json.dump({"fault": "bad_batch", "mode": "m", "threads": "1"}, f)
            with self.assertRaisesRegex(UsageError, "field threads must be an integer"):
                dx.read_request(path)
