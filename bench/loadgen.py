"""A small HTTP load generator for the benchmarks (aiohttp, run in its own process).

Open loop: requests are scheduled at a fixed rate and latency is measured from the scheduled
time, so a slow server cannot hide its queueing (no coordinated omission). Closed loop: N
connections send back to back, for the maximum rate.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from typing import Any

import aiohttp


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(latencies: list[float], errors: int, seconds: float) -> dict[str, Any]:
    return {
        "requests": len(latencies) + errors,
        "errors": errors,
        "rate": (len(latencies) + errors) / seconds,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "mean_ms": (statistics.fmean(latencies) * 1000) if latencies else float("nan"),
    }


async def _send(session: aiohttp.ClientSession, spec: dict[str, Any]) -> bool:
    async with session.request(
        spec["method"], spec["url"], headers=spec.get("headers"), json=spec.get("json")
    ) as response:
        await response.read()
        return response.status == spec.get("expect", 200)


async def open_loop(
    spec: dict[str, Any], rate: float, seconds: float, connections: int
) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=connections)
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        total = int(rate * seconds)

        async def one(i: int) -> None:
            nonlocal errors
            scheduled = start + i / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            try:
                ok = await _send(session, spec)
            except (TimeoutError, aiohttp.ClientError, OSError):
                ok = False
            if ok:
                latencies.append(time.perf_counter() - scheduled)
            else:
                errors += 1

        await asyncio.gather(*(one(i) for i in range(total)))
        elapsed = time.perf_counter() - start
    return summary(latencies, errors, elapsed)


async def closed_loop(spec: dict[str, Any], seconds: float, connections: int) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=connections)
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        deadline = start + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                try:
                    ok = await _send(session, spec)
                except (TimeoutError, aiohttp.ClientError, OSError):
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - sent)
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - start
    return summary(latencies, errors, elapsed)


def main() -> None:
    """``python loadgen.py '<json job>'`` prints one JSON summary line."""
    job = json.loads(sys.argv[1])
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if job["mode"] == "open":
        result = asyncio.run(
            open_loop(job["spec"], job["rate"], job["seconds"], job["connections"])
        )
    else:
        result = asyncio.run(closed_loop(job["spec"], job["seconds"], job["connections"]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
