"""What metrics cost a function: the cold import, and one recording, production and local.

    .venv/bin/python bench/metrics_import.py [--runs 15] [--records 20000]

Imports are timed in fresh interpreters (median of --runs), each on top of what a function has
already loaded (shared.logs, logging, json), next to prometheus_client for comparison, with
bytecode compiled once beforehand (into a temporary PYTHONPYCACHEPREFIX, as a deployed function
has it; compiling the source is not the import's cost). A recording
is timed in process: the production sink (one JSON log line through the Cloud Logging formatter,
written to /dev/null) and the local stack's Prometheus registry.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

TIMED_IMPORT = (
    "import time, shared.logs;"
    "t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
)


def import_seconds(module: str, runs: int, pycache: str) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = pycache
    samples = []
    for _ in range(runs + 1):  # the first run compiles the bytecode: not counted
        out = subprocess.run(
            [sys.executable, "-c", TIMED_IMPORT.format(module=module)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        samples.append(float(out))
    return statistics.median(samples[1:])


def per_record_seconds(records: int) -> float:
    from shared import metrics

    start = time.perf_counter()
    for i in range(records):
        metrics.HTTP_REQUEST_SECONDS.observe(
            0.01 * (i % 7), function="auth", route="login", method="POST", status="200"
        )
    return (time.perf_counter() - start) / records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--records", type=int, default=20000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as pycache:
        for module in ("shared.metrics", "prometheus_client"):
            ms = import_seconds(module, args.runs, pycache) * 1000
            print(f"cold import {module:<20} {ms:7.1f} ms (median of {args.runs})")

    from devstack.metrics import PrometheusSink
    from shared import metrics
    from shared.logs import CloudLoggingFormatter

    with open(os.devnull, "w") as devnull:
        handler = logging.StreamHandler(devnull)
        handler.setFormatter(CloudLoggingFormatter("bench"))
        logger = logging.getLogger("coditect.metrics")
        logger.addHandler(handler)
        logger.propagate = False
        metrics.use_sinks(metrics.LogSink())
        us = per_record_seconds(args.records) * 1e6
        print(f"one recording, production log line  {us:7.1f} us")
        logger.removeHandler(handler)
    metrics.use_sinks(PrometheusSink())
    us = per_record_seconds(args.records) * 1e6
    print(f"one recording, local Prometheus     {us:7.1f} us")


if __name__ == "__main__":
    main()
