"""JAX port: the ResNet written in jax.numpy/lax on PyTorch's own layouts (NCHW activations,
OIHW kernels), so the shared .safetensors loads without conversion; one jitted training step
(PyTorch's SGD: weight decay in the gradient, then momentum) and a jitted forward.

From PyPI (.venvs/tf, install-deps.sh); runs wherever `import jax` works. XLA has no thread-count
setting for the CPU: it sizes its pools from the CPUs the process may run on, so the trial's
threads are applied as CPU affinity (the first N allowed CPUs) before JAX is imported.
"""
from .protocol import limit_cpus_from_env

limit_cpus_from_env()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

from .protocol import Unsupported, UsageError, affinity_pool  # noqa: E402

from .device import require_device  # noqa: E402
from .keras_resnet import ARCHS  # noqa: E402 - block type and blocks per stage (numpy only)

BN_STATS = ("running_mean", "running_var")


def probe_modes():
    return {"jit": ""}


# Task train_ddp: one JAX process per rank (jax.distributed), the step a shard_map over the
# ranks' devices whose gradients are averaged with lax.pmean (Gloo on the CPU).
DDP_MODES = ("jit",)
DDP_COLLECTIVES = "jax.distributed + shard_map lax.pmean (gloo)"


def _conv(x, w, stride, pad):
    return lax.conv_general_dilated(x, w, (stride, stride), [(pad, pad), (pad, pad)],
                                    dimension_numbers=("NCHW", "OIHW", "NCHW"))


def _bn(x, params, state, new_state, name, train):
    if train:
        mean = x.mean(axis=(0, 2, 3))
        var = x.var(axis=(0, 2, 3))
        n = x.size // x.shape[1]
        new_state[f"{name}.running_mean"] = 0.9 * state[f"{name}.running_mean"] + 0.1 * mean
        new_state[f"{name}.running_var"] = (0.9 * state[f"{name}.running_var"] +
                                            0.1 * var * n / max(n - 1, 1))
    else:
        mean, var = state[f"{name}.running_mean"], state[f"{name}.running_var"]
    inv = lax.rsqrt(var + 1e-5) * params[f"{name}.weight"]
    return (x - mean[None, :, None, None]) * inv[None, :, None, None] + \
        params[f"{name}.bias"][None, :, None, None]


def make_forward(arch, stem):
    block, counts = ARCHS[arch]
    expansion = 1 if block == "basic" else 4

    def forward(params, state, x, train):
        new_state = dict(state)
        relu = jax.nn.relu

        def conv_bn(x, conv, bn, stride, pad):
            return _bn(_conv(x, params[f"{conv}.weight"], stride, pad), params, state, new_state,
                       bn, train)

        if stem == "cifar":
            x = relu(conv_bn(x, "conv1", "bn1", 1, 1))
        else:
            x = relu(conv_bn(x, "conv1", "bn1", 2, 3))
            x = lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 3, 3), (1, 1, 2, 2),
                                  [(0, 0), (0, 0), (1, 1), (1, 1)])
        in_planes = 64
        for stage, n in enumerate(counts):
            planes = 64 << stage
            for b in range(n):
                stride = 2 if b == 0 and stage > 0 else 1
                p = f"layer{stage + 1}.{b}"
                if block == "basic":
                    out = relu(conv_bn(x, f"{p}.conv1", f"{p}.bn1", stride, 1))
                    out = conv_bn(out, f"{p}.conv2", f"{p}.bn2", 1, 1)
                else:
                    out = relu(conv_bn(x, f"{p}.conv1", f"{p}.bn1", 1, 0))
                    out = relu(conv_bn(out, f"{p}.conv2", f"{p}.bn2", stride, 1))
                    out = conv_bn(out, f"{p}.conv3", f"{p}.bn3", 1, 0)
                shortcut = x
                if stride != 1 or in_planes != planes * expansion:
                    shortcut = conv_bn(x, f"{p}.downsample.0", f"{p}.downsample.1", stride, 0)
                x = relu(out + shortcut)
                in_planes = planes * expansion
        x = x.mean(axis=(2, 3))
        return x @ params["fc.weight"].T + params["fc.bias"], new_state

    return forward


class Port:
    framework = "jax"
    version = jax.__version__
    compiles = True

    def __init__(self, spec):
        self.spec = spec
        self.train = spec["task"] in ("train", "train_ddp")
        self.mesh = None

    def check_supported(self):
        s = self.spec
        if s["mode"] != "jit":
            raise UsageError(f"jax has no mode '{s['mode']}' (supported: jit)")
        if s["precision"] != "fp32":
            raise UsageError("the jax worker runs fp32 only (supported: precision fp32)")
        if s["memory_format"] != "contiguous":
            raise UsageError("the jax worker lets XLA choose layouts (supported: memory_format "
                              "contiguous)")

    def set_threads(self, threads):
        return affinity_pool(threads)

    def init_ddp(self, peers):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        # JAX has no setting for the interface its Gloo binds (it resolves the host name, which
        # inside a host's network namespace is loopback): the factory jax itself calls is given
        # the ranks' link, FWBENCH_DDP_IFNAME.
        from jax._src import xla_bridge
        make = xla_bridge._jax.make_gloo_tcp_collectives
        xla_bridge._jax.make_gloo_tcp_collectives = (
            lambda distributed_client, **_: make(distributed_client=distributed_client,
                                                 interface=peers.ifname))
        jax.distributed.initialize(coordinator_address=peers.addrs[0],
                                   num_processes=peers.world, process_id=peers.rank,
                                   initialization_timeout=int(self.spec["budget"]["max_seconds"])
                                   + 60)
        self.mesh = jax.sharding.Mesh(np.array(jax.devices()), ("dp",))

    def init(self):
        require_device(self.spec, "jax")
        kind = "gpu" if self.spec["device"] == "cuda" else "cpu"
        self.device = jax.local_devices(backend=kind)[0]
        if kind == "gpu":
            # fp32 means fp32: XLA's default on GPUs lets matmuls and convolutions use TF32,
            # which failed the parity gate on an H200 (docs/gpu.md).
            jax.config.update("jax_default_matmul_precision", "highest")

    def build(self):
        m = self.spec["model"]
        if m["arch"] not in ARCHS:
            raise UsageError(f"unknown model.arch '{m['arch']}' ({', '.join(ARCHS)})")
        if m["stem"] not in ("cifar", "imagenet"):
            raise UsageError(f"unknown model.stem '{m['stem']}' (cifar, imagenet)")
        self.forward = make_forward(m["arch"], m["stem"])

    def load_weights(self, tensors):
        put = lambda a: jax.device_put(jnp.asarray(a, dtype=jnp.float32), self.device)  # noqa
        self.params = {k: put(v) for k, v in tensors.items()
                       if not k.endswith(BN_STATS) and not k.endswith("num_batches_tracked")}
        self.state = {k: put(v) for k, v in tensors.items() if k.endswith(BN_STATS)}
        o = self.spec["optimizer"]
        lr, momentum, wd = o["lr"], o["momentum"], o["weight_decay"]
        forward = self.forward

        def loss_fn(params, state, x, y):
            logits, new_state = forward(params, state, x, True)
            logp = jax.nn.log_softmax(logits)
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1)), new_state

        def train_step(params, state, bufs, first, x, y):
            (loss, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                params, state, x, y)
            grads = jax.tree_util.tree_map(lambda g, p: g + wd * p, grads, params)
            bufs = jax.tree_util.tree_map(lambda b, g: jnp.where(first, g, momentum * b + g),
                                          bufs, grads)
            params = jax.tree_util.tree_map(lambda p, b: p - lr * b, params, bufs)
            return params, new_state, bufs, loss

        self.bufs = jax.tree_util.tree_map(jnp.zeros_like, self.params)
        self.first = True
        self.train_fn = jax.jit(train_step)
        if self.mesh is not None:
            self._data_parallel(loss_fn, lr, momentum, wd)
        # infer_fn becomes its ahead-of-time compiled form for the timed batch size, the one
        # the parity logits come from too (runner.parity_logits feeds it that batch size).
        self.infer_fn = jax.jit(lambda params, state, x: forward(params, state, x, False)[0])

    def _data_parallel(self, loss_fn, lr, momentum, wd):
        """The same SGD step per rank, its gradients (and BatchNorm statistics) averaged over
        the ranks; parameters replicated, batches split along the ranks."""
        P = jax.sharding.PartitionSpec
        mesh = self.mesh

        def rank_step(params, state, bufs, first, x, y):
            # The gradient of this rank's own loss: differentiated as a replicated value, the
            # parameters' cotangent would be summed over the ranks already (shard_map's
            # check_vma), twice the average on two ranks.
            local = jax.tree_util.tree_map(lambda p: lax.pcast(p, "dp", to="varying"), params)
            (loss, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                local, state, x, y)
            grads = lax.pmean(grads, "dp")
            # Each rank's running statistics come from its own slice; their mean keeps the
            # replicas equal (DistributedDataParallel broadcasts rank 0's instead). Neither
            # enters a training loss.
            new_state = lax.pmean(new_state, "dp")
            grads = jax.tree_util.tree_map(lambda g, p: g + wd * p, grads, params)
            bufs = jax.tree_util.tree_map(lambda b, g: jnp.where(first, g, momentum * b + g),
                                          bufs, grads)
            params = jax.tree_util.tree_map(lambda p, b: p - lr * b, params, bufs)
            return params, new_state, bufs, loss[None]

        self.train_fn = jax.jit(jax.shard_map(
            rank_step, mesh=mesh, in_specs=(P(), P(), P(), P(), P("dp"), P("dp")),
            out_specs=(P(), P(), P(), P("dp"))))
        replicated = jax.sharding.NamedSharding(mesh, P())
        self.rows = jax.sharding.NamedSharding(mesh, P("dp"))

        def replicate(tree):
            return jax.tree_util.tree_map(
                lambda a: jax.make_array_from_process_local_data(replicated, np.asarray(a)), tree)
        self.params, self.state, self.bufs = (replicate(self.params), replicate(self.state),
                                              replicate(self.bufs))
        self.first_true = replicate(np.bool_(True))
        self.first_false = replicate(np.bool_(False))

    def to_input(self, x, y):
        if self.mesh is not None:
            return (jax.make_array_from_process_local_data(self.rows, np.asarray(x)),
                    jax.make_array_from_process_local_data(self.rows,
                                                           np.asarray(y, dtype=np.int32)))
        return (jax.device_put(jnp.asarray(x), self.device),
                jax.device_put(jnp.asarray(y, dtype=jnp.int32), self.device))

    def compile(self, example, check):
        # Ahead-of-time: lower and compile without running, so no state changes.
        x, y = self.to_input(*example)
        if self.train:
            first = True if self.mesh is None else self.first_true
            self.train_fn = self.train_fn.lower(self.params, self.state, self.bufs, first, x,
                                                y).compile()
        else:
            self.infer_fn = self.infer_fn.lower(self.params, self.state, x).compile()

    def train_step(self, x, y):
        first = self.first
        if self.mesh is not None:
            first = self.first_true if self.first else self.first_false
        self.params, self.state, self.bufs, loss = self.train_fn(
            self.params, self.state, self.bufs, first, x, y)
        self.first = False
        if self.mesh is not None:
            # This rank's own loss (the slice it trained on), as every data-parallel port reports.
            return float(loss.addressable_shards[0].data[0])
        return float(loss)  # waits for the result

    def infer_step(self, x):
        self.infer_fn(self.params, self.state, x).block_until_ready()

    def logits(self, inputs):
        x, _ = self.to_input(inputs, np.zeros(len(inputs), dtype=np.int64))
        return np.asarray(self.infer_fn(self.params, self.state, x))

    def save_model(self, out_dir):
        return []
