"""A burst of workspace creates through the real path, as the issue asks.

    /tmp/probe/bin/python bench/workspaces_burst.py [--users 500] [--latency 0.02]
        [--ready-delay 1.0] [--workers 40]

HTTP (waitress serving the real functions) -> Pub/Sub topic (the local bus, ``--workers``
concurrent deliveries standing in for Cloud Functions instances) -> the provisioner function
(functions-framework CloudEvent app) -> the Kubernetes API stand-in in its own process, answering
every call after ``--latency`` seconds with schema validation off, pods Ready ``--ready-delay``
seconds after creation.

Prints: all ready / errors; throughput (workspaces/s, from the first request to the last ready);
p50/p95 from request to ``ready``; Kubernetes API calls per workspace (the stand-in's counters);
the delay from the pod turning Ready (seen by a separate watch on the stand-in) to the store
committing ``ready`` (what GET /api/workspaces/{id} shows from then on).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def start_standin(latency: float, ready_delay: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack.kubeapi",
            "--port",
            str(port),
            "--ready-delay",
            str(ready_delay),
            "--latency",
            str(latency),
            "--no-validate",
            "--namespace-delete-delay",
            "0.2",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in process.stdout:
        if "listening" in line:
            break
    return process, f"http://127.0.0.1:{port}"


def watch_pods(url: str, ready_at: dict[str, float], stop: threading.Event) -> None:
    """Record when each pod turns Ready, from a watch of its own (not the provisioner's)."""
    with requests.get(
        f"{url}/api/v1/pods", params={"watch": "true"}, stream=True, timeout=600
    ) as r:
        for line in r.iter_lines():
            if stop.is_set():
                return
            if not line:
                continue
            event = json.loads(line)
            pod = event["object"]
            name = pod["metadata"]["name"]
            conditions = (pod.get("status") or {}).get("conditions") or []
            if name not in ready_at and any(
                c["type"] == "Ready" and c["status"] == "True" for c in conditions
            ):
                ready_at[name] = time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--ready-delay", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=40)
    args = parser.parse_args()

    import logging

    import waitress
    from kubernetes import client

    from devstack.stack import LocalStack
    from devstack.workspaces import install_hooks, subscribe_provisioner
    from shared import logs, wiring
    from shared.events import LocalEvents
    from shared.settings import Settings
    from shared.workspaces.config import WorkspaceSettings

    logs.configure("bench", "WARNING")
    logging.getLogger().setLevel("WARNING")
    standin, kube_url = start_standin(args.latency, args.ready_delay)
    data = tempfile.mkdtemp(prefix="ws-bench-")
    port = free_port()
    settings = Settings(data_dir=data, public_url=f"http://127.0.0.1:{port}")
    events = LocalEvents(workers=args.workers)
    services = wiring.build(settings, events=events)
    wiring.install(services)
    configuration = client.Configuration(host=kube_url)
    configuration.connection_pool_maxsize = 2 * args.workers + 16
    services.kube_api_client = client.ApiClient(configuration)
    services.replace_settings(workspaces=WorkspaceSettings(domain="ws.bench"))
    subscribe_provisioner(events, max_attempts=5)

    done_at: dict[str, tuple[float, str]] = {}

    class Hooks:
        def workspace_url(self, ws: dict) -> None:
            return None

        def on_status(self, ws: dict, status: str) -> None:
            done_at.setdefault(ws["workspace_id"], (time.monotonic(), status))

    install_hooks(services, Hooks())
    server = waitress.create_server(
        LocalStack(settings).build_app(), host="127.0.0.1", port=port, threads=48
    )
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{port}"

    print(f"registering {args.users} users (not timed)...", flush=True)
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "s"):
            local.s = requests.Session()
        return local.s

    def register(i: int) -> str:
        r = session().post(
            f"{base}/api/auth/register",
            json={"email": f"bench{i}@example.com", "password": PASSWORD},
            timeout=60,
        )
        r.raise_for_status()
        return r.json()["access_token"]

    with ThreadPoolExecutor(4) as pool:
        tokens = list(pool.map(register, range(args.users)))

    pod_ready: dict[str, float] = {}
    stop = threading.Event()
    threading.Thread(target=watch_pods, args=(kube_url, pod_ready, stop), daemon=True).start()
    requests.delete(f"{kube_url}/_standin/counters", timeout=10)
    time.sleep(0.5)

    asked_at: dict[str, float] = {}
    errors: list[str] = []

    def create(token: str) -> None:
        t0 = time.monotonic()
        r = session().post(
            f"{base}/api/workspaces",
            json={"name": "main"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        if r.status_code != 202:
            errors.append(f"{r.status_code} {r.text[:200]}")
            return
        asked_at[r.json()["workspace"]["workspace_id"]] = t0

    print(f"burst: {args.users} creates...", flush=True)
    burst_start = time.monotonic()
    with ThreadPoolExecutor(64) as pool:
        list(pool.map(create, tokens))
    accepted = time.monotonic() - burst_start
    deadline = time.monotonic() + 300
    while len(done_at) < len(asked_at) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()

    statuses = [s for _, s in done_at.values()]
    ready = [w for w, (_, s) in done_at.items() if s == "ready"]
    latencies = [done_at[w][0] - asked_at[w] for w in ready]
    last_ready = max(done_at[w][0] for w in ready) if ready else burst_start
    calls = requests.get(f"{kube_url}/_standin/counters", timeout=10).json()
    lags = [done_at[w][0] - pod_ready[f"ws-{w}"] for w in ready if f"ws-{w}" in pod_ready]

    # What the API shows, through HTTP, for every workspace.
    shown: dict[str, int] = {}
    for token in tokens:
        r = session().get(f"{base}/api/workspaces", headers={"Authorization": f"Bearer {token}"})
        for ws in r.json()["workspaces"]:
            shown[ws["status"]] = shown.get(ws["status"], 0) + 1

    print()
    print(
        f"accepted {len(asked_at)}/{args.users} creates in {accepted:.2f} s; errors {len(errors)}"
    )
    print(f"outcomes: { {s: statuses.count(s) for s in set(statuses)} }; API shows {shown}")
    print(f"dead letters: {len(events.dead_letters)}")
    if ready:
        span = last_ready - burst_start
        print(
            f"throughput: {len(ready) / span:.1f} workspaces/s ({len(ready)} ready in {span:.1f} s)"
        )
        print(
            f"request -> ready: p50 {statistics.median(latencies):.2f} s, "
            f"p95 {pct(latencies, 95):.2f} s, max {max(latencies):.2f} s"
        )
    print(
        f"Kubernetes API calls: {calls['total']} total, "
        f"{calls['total'] / max(1, len(asked_at)):.1f} per workspace; by verb "
        f"{ {v: sum(r.values()) for v, r in calls['byVerb'].items()} }"
    )
    if lags:
        print(
            f"pod Ready -> API shows ready: p50 {statistics.median(lags) * 1000:.0f} ms, "
            f"p95 {pct(lags, 95) * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms "
            f"({len(lags)} measured)"
        )
    for line in errors[:5]:
        print("error:", line)
    server.close()
    events.close()
    standin.terminate()
    standin.wait(10)


if __name__ == "__main__":
    main()
