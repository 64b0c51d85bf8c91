"""Platform core figures on the local stack (waitress, the embedded store), as the README reports.

    .venv/bin/python bench/auth_bench.py [--seconds 15]

Starts `python -m devstack` on a free port with a fresh data dir, then drives it from a separate
load-generator process: GET /api/auth/me at an offered 200 requests/s over 50 connections, its
maximum rate (50 connections back to back), and login at 10/s, with the server process's CPU
time per request (user + system, from /proc: steadier than latency on a shared box). Then the
cold import cost of each entry point on top of `import functions_framework`, in fresh
interpreters. ``--functions-only`` serves the HTTP functions alone (no stand-ins, data plane or
LLM gateway in the process) and skips the import probes: the request path by itself.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOADGEN = os.path.join(ROOT, "bench", "loadgen.py")
PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(job: dict, server_pid: int | None = None) -> dict:
    before = cpu_seconds(server_pid) if server_pid else 0.0
    done = subprocess.run(
        [sys.executable, LOADGEN, json.dumps(job)], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if server_pid:
        spent = cpu_seconds(server_pid) - before
        result["server_cpu_ms"] = spent * 1000 / max(1, result["requests"])
    return result


# The HTTP functions on the local origin without the stack's other parts (--functions-only).
SERVE_FUNCTIONS = """
import signal, threading
from devstack.stack import LocalStack
from shared.settings import Settings
import os
stack = LocalStack(Settings(data_dir=os.environ["CODITECT_DATA_DIR"]),
                   port=int(os.environ["PORT"]), components=[])
stack.start()
print("Ctrl-C stops it", flush=True)
stop = threading.Event()
signal.signal(signal.SIGINT, lambda *_: stop.set())
stop.wait()
stack.stop()
"""


def start_stack(port: int, data_dir: str, functions_only: bool = False) -> subprocess.Popen:
    env = {
        **os.environ,
        "PORT": str(port),
        "CODITECT_DATA_DIR": data_dir,
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    # Output goes to a file: a pipe nobody reads fills up and blocks the server's logging.
    log_path = os.path.join(data_dir, "devstack.log")
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE_FUNCTIONS]
            if functions_only
            else [sys.executable, "-m", "devstack"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with open(log_path) as log:
            if any(line.startswith("Ctrl-C stops it") for line in log):
                return process
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(f"the local stack did not start; see {log_path}")


def import_cost(rounds: int) -> dict[str, dict[str, float]]:
    probe = (
        "import importlib, sys, time\n"
        "t0 = time.perf_counter()\n"
        "import functions_framework\n"
        "t1 = time.perf_counter()\n"
        "functions_framework.create_app(sys.argv[1], sys.argv[2])\n"
        "t2 = time.perf_counter()\n"
        "importlib.import_module('shared.api.' + sys.argv[1])\n"
        "t3 = time.perf_counter()\n"
        "print(t1 - t0, t2 - t1, t3 - t2)\n"
    )
    results = {}
    # Imports are measured from bytecode, as a warm deployment has it: compiled once here, so a
    # PYTHONDONTWRITEBYTECODE in the environment does not turn every probe into a compile.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "shared", "functions"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        "PYTHONPATH": ROOT,
        "CODITECT_SECRETS": "gcp",
        "CODITECT_EVENTS": "pubsub",
        "GOOGLE_CLOUD_PROJECT": "bench",
    }
    for source in sorted(glob.glob(os.path.join(ROOT, "functions", "*", "main.py"))):
        name = os.path.basename(os.path.dirname(source))
        framework, entry, handler = [], [], []
        for _ in range(rounds):
            out = subprocess.run(
                [sys.executable, "-c", probe, name, source],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                cwd="/",
            )
            a, b, c = map(float, out.stdout.split())
            framework.append(a)
            entry.append(b)
            handler.append(c)
        results[name] = {
            "framework_ms": statistics.median(framework) * 1000,
            "entry_point_ms": statistics.median(entry) * 1000,
            "first_request_import_ms": statistics.median(handler) * 1000,
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--import-rounds", type=int, default=7)
    parser.add_argument("--functions-only", action="store_true")
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        stack = start_stack(port, data_dir, args.functions_only)
        try:
            signup = requests.post(
                f"{url}/api/auth/register",
                timeout=10,
                json={"email": "bench@example.com", "password": PASSWORD},
            )
            signup.raise_for_status()
            token = signup.json()["access_token"]
            me = {
                "method": "GET",
                "url": f"{url}/api/auth/me",
                "headers": {"Authorization": f"Bearer {token}"},
            }
            login = {
                "method": "POST",
                "url": f"{url}/api/auth/login",
                "json": {"email": "bench@example.com", "password": PASSWORD},
            }
            load({"mode": "closed", "spec": me, "seconds": 2, "connections": 10})  # warm up
            results = {
                "me_200rps": load(
                    {
                        "mode": "open",
                        "spec": me,
                        "rate": 200,
                        "seconds": args.seconds,
                        "connections": 50,
                    },
                    stack.pid,
                ),
                "me_max": load(
                    {"mode": "closed", "spec": me, "seconds": args.seconds, "connections": 50},
                    stack.pid,
                ),
                "login_10rps": load(
                    {
                        "mode": "open",
                        "spec": login,
                        "rate": 10,
                        "seconds": args.seconds,
                        "connections": 10,
                    },
                    stack.pid,
                ),
            }
        finally:
            stack.send_signal(signal.SIGINT)
            stack.wait(timeout=30)
    results["imports"] = {} if args.functions_only else import_cost(args.import_rounds)
    served = "the HTTP functions alone" if args.functions_only else "the local stack"
    print(f"machine: {os.cpu_count()} cores; server: waitress, 16 threads; store: embedded")
    print(f"served: {served}")
    print(
        f"{'run':<14}{'requests':>9}{'errors':>7}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'p99 ms':>9}{'server CPU ms/req':>19}"
    )
    for name in ("me_200rps", "me_max", "login_10rps"):
        r = results[name]
        print(
            f"{name:<14}{r['requests']:>9}{r['errors']:>7}{r['rate']:>9.1f}{r['p50_ms']:>9.2f}"
            f"{r['p95_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['server_cpu_ms']:>19.2f}"
        )
    print(
        f"\n{'entry point':<16}{'framework ms':>14}{'entry point adds ms':>22}"
        f"{'handler import on 1st request ms':>34}"
    )
    for name, r in results["imports"].items():
        print(
            f"{name:<16}{r['framework_ms']:>14.1f}{r['entry_point_ms']:>22.1f}"
            f"{r['first_request_import_ms']:>34.1f}"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
