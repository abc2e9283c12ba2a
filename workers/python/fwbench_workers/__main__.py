import time

T_MAIN = time.monotonic_ns()  # before any framework import: the protocol's t_main

import sys  # noqa: E402

# Guarded: a process that multiprocessing spawns (Grain's loader workers) runs this module again
# as __mp_main__, and must not run a worker of its own.
if __name__ == "__main__":
    from fwbench_workers.runner import exit_now, main

    exit_now(main(sys.argv, T_MAIN))
