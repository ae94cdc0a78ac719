"""Installs the tests' fault injection (tests/faults.py) in a process started with METAPT_FAULT set
and this folder on PYTHONPATH: the CLI run by a test, and the Ray workers it starts."""
import os
import sys

if os.environ.get("METAPT_FAULT"):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import faults

    faults.install()
