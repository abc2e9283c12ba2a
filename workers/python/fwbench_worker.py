"""Entry point of the Python workers: python3 fwbench_worker.py FRAMEWORK SPEC.json.

Also: --probe FRAMEWORK (what this interpreter can run, one JSON line) and --export-onnx.
"""
import time

T_MAIN = time.monotonic_ns()  # before any framework import: the protocol's t_main

import os  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# Guarded: a process that multiprocessing spawns (Grain's loader workers, the input_pipeline
# task) runs this file again as __mp_main__, and must not run a worker of its own.
if __name__ == "__main__":
    try:
        from fwbench_workers.runner import exit_now, main
    except ImportError as e:  # numpy missing: a probe still answers
        if sys.argv[1:2] == ["--probe"]:
            import json
            reason = (str(e).strip().splitlines() or [repr(e)])[0]
            print(json.dumps({"available": False, "reason": f"{reason} ({sys.executable})"}))
            sys.exit(0)
        raise

    exit_now(main(sys.argv, T_MAIN))
