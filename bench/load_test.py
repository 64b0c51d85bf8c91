"""Load test: N concurrent users (Locust, bench/locustfile.py) against the local stack.

    .venv/bin/python bench/load_test.py                 # 500 users, 150 s
    .venv/bin/python bench/load_test.py --users 100 --run-time 60

Starts ``python -m devstack`` (what ``make dev`` runs) on a free port in a temporary data
directory, waits until it answers ``/healthz``, runs Locust headless (from ``.venv-locust``, made
from bench/requirements-locust.txt on first use), samples CPU of the stack,
its child processes (localstripe, sidecars, placeholder IDEs) and Locust every 2 s, then prints
per-endpoint requests/s and p50/p95/p99, status counts (5xx apart), and what saturated first.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORES = psutil.cpu_count() or 1
LOCUST_VENV = os.path.join(ROOT, ".venv-locust")
LOCUST_REQUIREMENTS = os.path.join(ROOT, "bench", "requirements-locust.txt")


def locust_python() -> str:
    """Locust in its own virtual environment (made on first use, like checkov's)."""
    python = os.path.join(LOCUST_VENV, "bin", "python")
    stamp = os.path.join(LOCUST_VENV, ".requirements")
    with open(LOCUST_REQUIREMENTS) as fh:
        wanted = fh.read()
    if not os.path.exists(stamp) or open(stamp).read() != wanted:
        subprocess.run([sys.executable, "-m", "venv", "--clear", LOCUST_VENV], check=True)
        subprocess.run(
            [python, "-m", "pip", "install", "-q", "-r", LOCUST_REQUIREMENTS], check=True
        )
        with open(stamp, "w") as fh:
            fh.write(wanted)
    return python


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 180.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"the local stack exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise SystemExit("the local stack did not become ready")


@dataclass
class Sample:
    at: float
    machine_cpu: float  # percent of all cores, every process on the machine
    stack_cpu: float  # percent of one core: the stack's own process (all functions, store)
    children_cpu: float  # its child processes (sidecars, placeholder IDEs, localstripe, ...)
    locust_cpu: float
    children: int
    load1: float


@dataclass
class Sampler:
    stack: psutil.Process
    locust: psutil.Process | None = None
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _cpu(self, procs: list[psutil.Process]) -> float:
        total = 0.0
        for proc in procs:
            try:
                total += proc.cpu_percent(None)
            except psutil.Error:
                pass
        return total

    def run(self) -> None:
        started = time.monotonic()
        known: dict[int, psutil.Process] = {}
        psutil.cpu_percent(None)
        self.stack.cpu_percent(None)
        while not self._stop.wait(2.0):
            try:
                children = self.stack.children(recursive=True)
            except psutil.Error:
                return
            current = []
            for child in children:
                if child.pid not in known:
                    known[child.pid] = child
                    child.cpu_percent(None)  # the first reading only starts the clock
                current.append(known[child.pid])
            self.samples.append(
                Sample(
                    at=time.monotonic() - started,
                    machine_cpu=psutil.cpu_percent(None),
                    stack_cpu=self._cpu([self.stack]),
                    children_cpu=self._cpu(current),
                    locust_cpu=self._cpu([self.locust]) if self.locust else 0.0,
                    children=len(current),
                    load1=os.getloadavg()[0],
                )
            )

    def stop(self) -> None:
        self._stop.set()


def read_csv(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def num(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return float("nan")


def queue_depths(log_path: str) -> list[int]:
    """Waitress logs "Task queue depth is N" when every worker thread is busy."""
    depths = []
    with open(log_path, errors="replace") as fh:
        for line in fh:
            match = re.search(r"Task queue depth is (\d+)", line)
            if match:
                depths.append(int(match.group(1)))
    return depths


def report(
    prefix: str,
    statuses: dict[str, dict[str, int]],
    sampler: Sampler,
    args: Any,
    baseline: float,
    depths: list[int],
) -> str:
    stats = read_csv(f"{prefix}_stats.csv")
    lines = [
        "| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | 5xx | other non-2xx | "
        "no answer |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    total_5xx = 0
    for row in stats:
        name = f"{row['Type']} {row['Name']}" if row["Type"] else row["Name"]
        counts = statuses.get(name, {})
        if row["Name"] == "Aggregated":
            counts = {}
            for per in statuses.values():
                for code, n in per.items():
                    counts[code] = counts.get(code, 0) + n
        five = sum(n for code, n in counts.items() if code.startswith("5"))
        other = sum(n for code, n in counts.items() if code[:1] in "34")
        none = sum(n for code, n in counts.items() if not code[:1].isdigit())
        if row["Name"] == "Aggregated":
            total_5xx = five
            name = "**all**"
        lines.append(
            f"| {name} | {row['Request Count']} | {num(row['Requests/s']):.1f} | "
            f"{row['50%']} | {row['95%']} | {row['99%']} | {five} | {other} | {none} |"
        )
    history = [r for r in read_csv(f"{prefix}_stats_history.csv") if r["Name"] == "Aggregated"]
    peak = max(history, key=lambda r: num(r["Requests/s"])) if history else None
    samples = sampler.samples
    busy = [s for s in samples if s.machine_cpu >= 90]
    stack_busy = [s for s in samples if s.stack_cpu >= 90]
    out = [
        f"Load test: {args.users} users (spawn {args.spawn_rate}/s), {args.run_time} s, "
        f"{args.lifecycle_share:.0%} of them running workspaces; {CORES} cores.",
        "",
        *lines,
        "",
        f"Server errors (5xx): {total_5xx}.",
        f"Before the load the machine was already at {baseline:.0f}% CPU (other work); load "
        f"average {os.getloadavg()[0]:.1f} at the end.",
    ]
    if depths:
        out.append(
            f"The server's worker threads were all busy {len(depths)} times "
            f"(waitress task queue up to {max(depths)} requests)."
        )
    if peak:
        out.append(
            f"Peak throughput {num(peak['Requests/s']):.1f} req/s at {peak['User Count']} users."
        )
    if samples:

        def avg(values: list[float]) -> float:
            return sum(values) / len(values)

        loaded = samples[len(samples) // 3 :] or samples
        out += [
            f"CPU over the last two thirds (percent of one core): stack process "
            f"{avg([s.stack_cpu for s in loaded]):.0f}%, its children "
            f"{avg([s.children_cpu for s in loaded]):.0f}% (up to "
            f"{max(s.children for s in samples)} processes), Locust "
            f"{avg([s.locust_cpu for s in loaded]):.0f}%; machine "
            f"{avg([s.machine_cpu for s in loaded]):.0f}% of {CORES} cores; load average "
            f"{min(s.load1 for s in samples):.1f}-{max(s.load1 for s in samples):.1f}.",
        ]
        if busy:
            first = busy[0]
            out.append(
                f"Saturated first: the machine's CPU ({first.machine_cpu:.0f}% of {CORES} cores "
                f"at {first.at:.0f} s: stack {first.stack_cpu:.0f}%, children "
                f"{first.children_cpu:.0f}%, Locust {first.locust_cpu:.0f}%)."
            )
        elif stack_busy:
            first = stack_busy[0]
            out.append(
                f"Saturated first: the stack's process (one interpreter, {first.stack_cpu:.0f}% "
                f"of a core at {first.at:.0f} s)."
            )
        else:
            out.append("No CPU saturation observed (machine below 90%).")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--spawn-rate", type=float, default=10.0)
    parser.add_argument("--run-time", type=int, default=150, help="seconds of load")
    parser.add_argument("--lifecycle-share", type=float, default=0.2)
    parser.add_argument("--json", help="also write the raw figures here")
    parser.add_argument("--keep-data", action="store_true")
    args = parser.parse_args()

    locust_python()  # before the stack starts: the first run installs it
    data_dir = tempfile.mkdtemp(prefix="coditect-load-")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PORT": str(port),
        "CODITECT_DATA_DIR": os.path.join(data_dir, "data"),
        "CODITECT_PUBLIC_URL": url,
        "PYTHONPATH": ROOT,
        # The control plane under load, not dozens of IDE backends sharing its 2 cores (in
        # production each workspace's IDE runs in its own pod): the light placeholder IDE.
        "CODITECT_IDE": os.environ.get("CODITECT_IDE", "placeholder"),
    }
    log_path = os.path.join(data_dir, "devstack.log")
    print(f"starting the local stack on {url} (log: {log_path})", flush=True)
    with open(log_path, "wb") as log:
        stack = subprocess.Popen(
            [sys.executable, "-m", "devstack"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        print(f"ready after {wait_ready(url, stack):.1f} s", flush=True)
        baseline = psutil.cpu_percent(interval=5.0)
        prefix = os.path.join(data_dir, "locust")
        status_file = os.path.join(data_dir, "statuses.json")
        sampler = Sampler(psutil.Process(stack.pid))
        locust = subprocess.Popen(
            [
                locust_python(),
                "-m",
                "locust",
                "-f",
                os.path.join(ROOT, "bench", "locustfile.py"),
                "--headless",
                "--users",
                str(args.users),
                "--spawn-rate",
                str(args.spawn_rate),
                "--run-time",
                f"{args.run_time}s",
                "--host",
                url,
                "--csv",
                prefix,
                "--csv-full-history",
                "--only-summary",
                "--stop-timeout",
                "10",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env={
                **env,
                "LOAD_STATUS_FILE": status_file,
                "LOAD_LIFECYCLE_SHARE": str(args.lifecycle_share),
            },
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(data_dir, "locust.log"), "wb"),
        )
        sampler.locust = psutil.Process(locust.pid)
        thread = threading.Thread(target=sampler.run, daemon=True)
        thread.start()
        locust.wait(timeout=args.run_time + 300)
        sampler.stop()
        thread.join()
        with open(status_file) as fh:
            statuses = json.load(fh)
        text = report(prefix, statuses, sampler, args, baseline, queue_depths(log_path))
        print(text, flush=True)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(
                    {
                        "statuses": statuses,
                        "stats": read_csv(f"{prefix}_stats.csv"),
                        "samples": [s.__dict__ for s in sampler.samples],
                    },
                    fh,
                    indent=2,
                )
    finally:
        stack.send_signal(signal.SIGINT)  # a clean stop: sidecars and localstripe end too
        try:
            stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
        if not args.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
