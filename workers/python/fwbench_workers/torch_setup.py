"""What every PyTorch port sets up the same way: its thread pools (docs/workers.md, "Thread
pools": the intra-op pool, which is the OpenMP team (MKL runs on it too), holds the trial's
threads; the inter-op pool holds 1), its seed and its device, where fp32 means fp32."""
import re

import torch

from .device import require_device
from .protocol import pool, thread_hygiene


def torch_has_mkl():
    """False for a PyTorch without MKL (Debian's): its GEMMs then run in the process's BLAS."""
    return torch.backends.mkl.is_available()


def set_torch_threads(threads):
    torch.set_num_threads(threads)
    hygiene = thread_hygiene()
    try:
        if hygiene:
            torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # the pool already started: the read-back below says so, and the trial is refused
    interop = torch.get_num_interop_threads()
    pools = [pool("torch intra-op (torch.get_num_threads)", "compute", threads,
                  torch.get_num_threads()),
             pool("torch inter-op (torch.get_num_interop_threads)", "pinned",
                  1 if hygiene else interop, interop)]
    # MKL is linked into libtorch_cpu, out of threadpoolctl's sight; PyTorch reports it.
    mkl = re.search(r"mkl_get_max_threads\(\) : (\d+)", torch.__config__.parallel_info())
    if mkl:
        pools.append(pool("MKL (mkl_get_max_threads, in libtorch)", "compute", threads,
                          int(mkl.group(1))))
    return pools


def exact_fp32_on_cuda(device):
    """fp32 means fp32: PyTorch lets cuDNN convolutions (and, by setting, matmuls) run in TF32,
    ~1e-3 relative error, which failed the parity gate on an H200 (docs/gpu.md)."""
    if device.type == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")


class TorchSetup:
    """The part of a PyTorch port (image or LLM) that is not the workload: the runner calls
    set_threads and init like any port's; check_device belongs in check_supported."""

    openmp_computes = True  # PyTorch's intra-op pool is its OpenMP team

    def check_device(self):
        require_device(self.spec, "torch")

    def set_threads(self, threads):
        return set_torch_threads(threads)

    def init(self):
        torch.manual_seed(self.spec["seed"])
        self.device = torch.device(self.spec["device"])
        exact_fp32_on_cuda(self.device)
