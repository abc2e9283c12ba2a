"""fwbench trial workers in Python: one module per framework port, speaking docs/protocol.md.

Run as ``python3 -m fwbench_workers FRAMEWORK SPEC.json`` with ``workers/python`` on PYTHONPATH.
"""
