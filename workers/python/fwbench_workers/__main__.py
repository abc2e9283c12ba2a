import time

T_MAIN = time.monotonic_ns()  # before any framework import: the protocol's t_main

import sys  # noqa: E402

from fwbench_workers.runner import exit_now, main  # noqa: E402

exit_now(main(sys.argv, T_MAIN))
