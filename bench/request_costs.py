"""What one request costs on this machine, sequentially (no queueing): the load test's yardstick.

    .venv/bin/python bench/request_costs.py

Starts the local stack's functions (no other components) in a temporary data directory and times
sign-up, sign-in, list and me one after another, then argon2id's CPU per hash and one durable
commit of the embedded store.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import requests  # noqa: E402

from devstack.stack import LocalStack  # noqa: E402
from shared.passwords import hash_password  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.store.embedded import EmbeddedDatabase  # noqa: E402

ROUNDS = 10
PASSWORD = "load test password 1"


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def line(name: str, seconds: list[float]) -> str:
    return (
        f"{name:<10} median {statistics.median(seconds) * 1000:6.1f} ms   "
        f"min {min(seconds) * 1000:6.1f} ms"
    )


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        stack = LocalStack(Settings(data_dir=f"{tmp}/data"), port=0, components=[])
        stack.start()
        try:
            session = requests.Session()
            costs: dict[str, list[float]] = {"register": [], "login": [], "list": [], "me": []}
            for i in range(ROUNDS):
                body = {"email": f"cost{i}@example.com", "password": PASSWORD}
                took, response = timed(
                    lambda body=body: session.post(f"{stack.url}/api/auth/register", json=body)
                )
                costs["register"].append(took)
                auth = {"Authorization": f"Bearer {response.json()['access_token']}"}
                for name, method, path, payload in (
                    ("login", "POST", "/api/auth/login", body),
                    ("list", "GET", "/api/workspaces", None),
                    ("me", "GET", "/api/auth/me", None),
                ):
                    took, response = timed(
                        lambda m=method, p=path, j=payload, a=auth: session.request(
                            m, f"{stack.url}{p}", json=j, headers=a
                        )
                    )
                    assert response.status_code == 200, response.text
                    costs[name].append(took)
        finally:
            stack.stop()
        print(f"load average {os.getloadavg()[0]:.1f}; {ROUNDS} sequential rounds")
        for name, seconds in costs.items():
            print(line(name, seconds))
        cpu = []
        for _ in range(ROUNDS):
            started = time.process_time()
            hash_password(PASSWORD)
            cpu.append(time.process_time() - started)
        print(line("argon2 cpu", cpu))
        db = EmbeddedDatabase(f"{tmp}/commit")
        commits = [
            timed(lambda i=i: db.transact(lambda tr: tr.set(b"k%d" % i, b"v" * 300)))[0]
            for i in range(ROUNDS * 4)
        ]
        db.close()
        print(line("commit", commits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
