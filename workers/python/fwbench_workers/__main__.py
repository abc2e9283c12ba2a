import time

T_MAIN = time.monotonic_ns()  # before any framework import: the protocol's t_main

import os  # noqa: E402
import sys  # noqa: E402

from fwbench_workers.protocol import main  # noqa: E402

code = main(sys.argv, T_MAIN)
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)  # no interpreter teardown: see fwbench_worker.py
