"""PyTorch's thread pools for a trial (docs/workers.md, "Thread pools"): the intra-op pool, which
is the OpenMP team (MKL runs on it too), holds the trial's threads; the inter-op pool holds 1."""
import re

import torch

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
