"""A framework's own fp32 matmul peak on a trial's threads, for model FLOPs utilisation
(`fwbench_worker.py --matmul-peak`, run by fwbench before the trials, one process per
library). LibTorch's GEMM is not every library's: on an AMD CPU the MKL inside the PyTorch wheel
reached 117-119 GFLOP/s on one thread where tf.matmul reached 247 and a jitted JAX matmul
266, so Keras/TF read an "MFU" of 163% against LibTorch's peak. The run divides by the best peak
any of its libraries reached (the CPU can do at least that). The protocol is the C++
MeasureMatmulPeak's (src/backends/env/libtorch_info.cpp): square 1024 and 2048 products of
constant matrices, best of three rounds of at least 0.2 s each."""
import time

SIZES = (1024, 2048)
ROUND_NS = 200_000_000


def measure(matmul_for):
    """matmul_for(n) returns a function that computes one n x n product to completion. Returns
    (FLOP/s, the size that reached it)."""
    best, best_size = 0.0, 0
    for n in SIZES:
        run = matmul_for(n)
        run()  # warm-up: thread pool, kernel selection, a jit's compile
        for _ in range(3):
            reps, t0 = 0, time.monotonic_ns()
            t1 = t0
            while t1 - t0 < ROUND_NS or reps < 2:
                run()
                reps += 1
                t1 = time.monotonic_ns()
            rate = 2.0 * n ** 3 * reps / ((t1 - t0) * 1e-9)
            if rate > best:
                best, best_size = rate, n
    return best, best_size
