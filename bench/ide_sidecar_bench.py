"""The real IDE (Theia from ide/) through the sidecar vs direct: workbench page load and a
socket.io round trip.

    .venv/bin/python bench/ide_sidecar_bench.py [--loads 5] [--round-trips 300]

Processes on 127.0.0.1, stopped at the end: Theia (``node lib/backend/main.js`` on an empty
folder, as the data plane starts it), the JWKS and activity sink of bench/sidecar_bench.py, and
``python -m sidecar`` in front of Theia.

  * page load: headless Chromium, a fresh context (no cache) per load, from navigation to the
    rendered workbench (``#theia-app-shell``) and to the ready one (loading indicator gone);
    through the sidecar the browser is signed in by a launch token first (cookie), as a user is;
    loads alternate direct / sidecar, medians reported;
  * socket.io round trip: one WebSocket at ``/socket.io/?EIO=4&transport=websocket`` with
    Theia's ``theia-connection-token`` cookie and a same-host ``Origin`` (Theia's checks), then
    sequential namespace connects (``40/bench-N,`` answered by Theia's socket.io server) in 5
    interleaved rounds, p50 and p99; through the sidecar with a Bearer token.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from sidecar_bench import Bench, free_port  # noqa: E402

from devstack import ide  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ROUNDS = 5
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]


def launch_token(bench: Bench) -> str:
    """A one-time launch token for the bench's sidecar, signed with the bench's key."""
    import jwt

    now = int(time.time())
    claims = {
        "iss": "bench",
        "aud": "workspace:bench",
        "sub": "u",
        "tid": "t",
        "typ": "launch",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, bench.key, algorithm="ES256", headers={"kid": "bench"})


def page_loads(direct: str, sidecar: str, bench: Bench, loads: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {k: [] for k in ("direct", "sidecar")}
    ready: dict[str, list[float]] = {k: [] for k in ("direct", "sidecar")}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            for _ in range(loads):
                for name, origin in (("direct", direct), ("sidecar", sidecar)):
                    context = browser.new_context(viewport={"width": 1400, "height": 900})
                    page = context.new_page()
                    if name == "sidecar":
                        # Sign in (the launch sets the session cookie), then time a plain load.
                        launch = f"{origin}/__coditect/launch?token={launch_token(bench)}"
                        response = context.request.get(launch, max_redirects=0)
                        assert response.status == 303, response.status
                    started = time.monotonic()
                    page.goto(origin + "/")
                    page.wait_for_selector("#theia-app-shell", timeout=120_000)
                    times[name].append(time.monotonic() - started)
                    page.wait_for_selector(".theia-preload", state="detached", timeout=120_000)
                    ready[name].append(time.monotonic() - started)
                    context.close()
        finally:
            browser.close()
    return {
        "shell direct": times["direct"],
        "shell sidecar": times["sidecar"],
        "ready direct": ready["direct"],
        "ready sidecar": ready["sidecar"],
    }


async def round_trips(origin: str, count: int, bearer: str | None) -> list[float]:
    import aiohttp

    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    async with aiohttp.ClientSession() as session:
        async with session.get(origin + "/", headers=headers) as page:
            assert page.status == 200, page.status
            token = page.cookies["theia-connection-token"].value
        ws_headers = {**headers, "Cookie": f"theia-connection-token={token}", "Origin": origin}
        url = origin.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        async with session.ws_connect(url, headers=ws_headers) as ws:
            opened = await ws.receive_str(timeout=10)
            assert opened.startswith("0"), opened  # engine.io open
            samples = []
            for i in range(count):
                started = time.perf_counter()
                await ws.send_str(f"40/bench-{i},")
                while True:
                    reply = await ws.receive_str(timeout=10)
                    if reply == "2":  # engine.io ping from the server
                        await ws.send_str("3")
                        continue
                    break
                samples.append(time.perf_counter() - started)
                assert reply.startswith((f"40/bench-{i},", f"44/bench-{i},")), reply
                await ws.send_str(f"41/bench-{i},")
    return samples


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--round-trips", type=int, default=300)
    args = parser.parse_args()
    if reason := ide.node_missing():
        print(f"ide: {reason}", file=sys.stderr)
        return 1
    print(ide.build(), end="")
    bench = Bench(argparse.Namespace())
    work = Path(tempfile.mkdtemp(prefix="ide-sidecar-bench-"))
    (work / "folder").mkdir()
    (work / "config").mkdir()
    ide.seed_config_dir(work / "config")
    theia_port = free_port()
    theia = ide.start(
        work / "folder",
        port=theia_port,
        config_dir=work / "config",
        log_path=work / "backend.log",
        hostname="127.0.0.1",
    )
    try:
        bench.start_upstream()  # JWKS + activity sink (and an echo server nobody uses)
        bench.upstream_port = theia_port
        _proc, port, _pids = bench.start_sidecar()
        # localhost: a secure context in Chromium, so the sidecar's Secure cookie is kept.
        direct, through = f"http://localhost:{theia_port}", f"http://localhost:{port}"
        loads = page_loads(direct, through, bench, args.loads)
        # Interleaved rounds, so a busy moment on the machine hits both alike.
        rtt: dict[str, list[float]] = {"direct": [], "sidecar": []}
        for _ in range(ROUNDS):
            per_round = max(1, args.round_trips // ROUNDS)
            rtt["direct"] += asyncio.run(round_trips(direct, per_round, None))
            rtt["sidecar"] += asyncio.run(round_trips(through, per_round, bench.token))
    finally:
        bench.close()
        theia.stop()
    print(f"Theia workbench through the sidecar vs direct ({args.loads} cold loads each)")
    for name, values in loads.items():
        print(
            f"  {name:14s} median {statistics.median(values):6.2f} s  "
            f"(min {min(values):.2f}, max {max(values):.2f})"
        )
    print(f"socket.io namespace-connect round trip ({len(rtt['direct'])} sequential each)")
    for name, values in rtt.items():
        print(
            f"  {name:8s} p50 {pct(values, 0.5) * 1e6:8.0f} µs"
            f"   p99 {pct(values, 0.99) * 1e6:8.0f} µs"
        )
    added = pct(rtt["sidecar"], 0.5) - pct(rtt["direct"], 0.5)
    print(f"  added by the sidecar: p50 {added * 1e6:.0f} µs")
    print(
        json.dumps({"loads": loads, "rtt_p50_us": {k: pct(v, 0.5) * 1e6 for k, v in rtt.items()}})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
