"""Idle cleanup over 100,000 workspaces of which 1,000 are idle, on the embedded store.

    /tmp/probe/bin/python bench/workspaces_idle.py [--total 100000] [--idle 1000]

Fills a fresh embedded store (durable mode, as the local stack runs it) with running, ready
workspaces, each with its record and index entries exactly as the API writes them, then times
one cleanup pass (target < 5 s) and a second, overlapping-safe pass that finds nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from shared.clock import ManualClock  # noqa: E402
from shared.events import LocalEvents  # noqa: E402
from shared.store.embedded import EmbeddedDatabase  # noqa: E402
from shared.workspaces import model  # noqa: E402
from shared.workspaces.config import WorkspaceSettings  # noqa: E402
from shared.workspaces.idle import IdleCleanup  # noqa: E402

HOUR = 3600


def record(now: float, idle: bool) -> dict:
    started = now - 3 * HOUR
    return {
        "workspace_id": uuid.uuid4().hex,
        "tenant_id": uuid.uuid4().hex,
        "user_id": uuid.uuid4().hex,
        "name": "main",
        "desired": "running",
        "generation": 1,
        "observed_generation": 1,
        "status": "ready",
        "reason": None,
        "plan": "free",
        "disk_gb": 1,
        "created_at": started,
        "start_requested_at": started,
        "running_since": started + 20,
        "stopped_at": None,
        "last_active": now - (3 * HOUR - 60 if idle else 300),
        "url": "https://example",
        "activity_hash": "0" * 64,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--total", type=int, default=100_000)
    parser.add_argument("--idle", type=int, default=1_000)
    args = parser.parse_args()
    clock = ManualClock()
    now = clock.now()
    with tempfile.TemporaryDirectory() as data:
        db = EmbeddedDatabase(data)
        started = time.perf_counter()
        every = args.total // args.idle
        batch = 4000
        for first in range(0, args.total, batch):

            def fill(tr, first=first):
                for i in range(first, min(first + batch, args.total)):
                    ws = record(now, idle=i % every == 0)
                    model.save(tr, ws, None, now)

            db.transact(fill)
        print(f"filled {args.total} workspaces in {time.perf_counter() - started:.1f} s")
        events = LocalEvents()
        cleanup = IdleCleanup(db, events, clock, WorkspaceSettings())
        started = time.perf_counter()
        result = cleanup.run()
        first_pass = time.perf_counter() - started
        started = time.perf_counter()
        again = cleanup.run()
        second_pass = time.perf_counter() - started
        events.close()
        db.close()
    print(f"first pass:  {first_pass:.2f} s  {result}")
    print(f"second pass: {second_pass:.3f} s  {again}")
    assert result.get("stopped_idle") == args.idle, result
    print(
        f"idle-cleanup pass over {args.total} workspaces ({args.idle} idle): {first_pass:.2f} s "
        f"(target < 5 s)"
    )


if __name__ == "__main__":
    main()
