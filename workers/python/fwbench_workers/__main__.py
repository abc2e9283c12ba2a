import time

T_MAIN = time.monotonic_ns()  # before any framework import: the protocol's t_main

import sys  # noqa: E402

from fwbench_workers.protocol import main  # noqa: E402

sys.exit(main(sys.argv, T_MAIN))
