"""LLM gateway vs direct vs LiteLLM's proxy, against the same local provider stand-in.

Run from the repository root (LiteLLM is installed into .venv-litellm on first run, never into
the project's environment):

    python bench/llm_bench.py [--requests 300] [--streams 40] [--seconds 5]

Processes (127.0.0.1, all stopped at the end): the OpenAI-compatible stand-in
(``python -m devstack.llm``), our gateway (``python -m shared.llm``, uvloop, embedded store with a
pro-plan workspace key, metering on), LiteLLM's proxy (``litellm --config``, one worker, no
database, its master key checked on each request), and a WSGI thread-per-request relay
(waitress, 16 threads) in front of our gateway, standing for a functions-framework deployment.
The clients (aiohttp, uvloop) run here.

Measured per target, interleaved so noise hits each alike:
  * non-streaming latency p50/p99 (sequential), "added" = target minus direct;
  * streams of 20 chunks 25 ms apart: time to first byte, and the gaps between chunks as the
    client sees them (held back = a gap over 40 ms, or a burst under 5 ms);
  * requests/s with 50 concurrent clients for --seconds;
  * 200 concurrent streams (30 chunks, 150 ms apart): errors, every stream complete, and the
    process's RSS growth per open stream.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LITELLM_VENV = ROOT / ".venv-litellm"
MODEL = "gpt-4o-mini"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    """RSS of a process and its descendants (LiteLLM runs uvicorn workers as children)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/status") as fh:
                total += next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as fh:
                    pending += [int(c) for c in fh.read().split()]
        except (FileNotFoundError, StopIteration, ProcessLookupError):
            pass
    return total


def setup_store(data_dir: str) -> str:
    """A pro-plan user with a workspace and its LLM key, in a fresh embedded store."""
    from werkzeug.test import Client

    from devstack.llm import provide_standin_keys
    from devstack.stack import LocalStack
    from shared import wiring
    from shared.accounts.licenses import write_license
    from shared.events import LocalEvents
    from shared.llm import keys
    from shared.settings import Settings

    settings = Settings(data_dir=data_dir, public_url="http://127.0.0.1")
    services = wiring.build(settings, events=LocalEvents())
    wiring.install(services)
    api = Client(LocalStack(settings).build_app())
    body = api.post(
        "/api/auth/register",
        json={"email": "bench@example.com", "password": "correct horse battery staple"},
    ).get_json()
    user = body["user"]
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    wid = api.post("/api/workspaces", json={"name": "bench"}, headers=auth).get_json()["workspace"][
        "workspace_id"
    ]
    now = services.clock.now()
    tid, uid = user["tenant_id"], user["user_id"]

    def pro(tr: Any) -> None:
        write_license(tr, tid, now, plan="pro", status="active", action="bench", reason="bench")

    services.db.transact(pro)
    secret = keys.derivation_secret(services.secrets, generate_if_missing=True)
    key = str(services.db.transact(keys.issue_workspace_key, secret, tid, uid, wid, now))
    provide_standin_keys(services.secrets)
    services.events.close()  # type: ignore[attr-defined]
    services.db.close()
    wiring.install(None)
    return key


def ensure_litellm() -> str:
    binary = LITELLM_VENV / "bin" / "litellm"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        subprocess.run(
            [str(LITELLM_VENV / "bin" / "pip"), "install", "-q", "litellm[proxy]"], check=True
        )
    return str(binary)


@dataclass
class Target:
    name: str
    url: str  # chat completions
    key: str
    pid: int = 0


async def wait_ready(url: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up")
            await asyncio.sleep(0.2)


def body(prompt: str, stream: bool) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "stream": stream}


async def one(session: aiohttp.ClientSession, target: Target, prompt: str) -> float:
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {target.key}"}
    async with session.post(target.url, json=body(prompt, False), headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{target.name}: {response.status}")
    return time.perf_counter() - started


async def stream(
    session: aiohttp.ClientSession, target: Target, prompt: str
) -> tuple[float, list[float], int]:
    """Time to first byte, arrival times of content chunks, and chunks received."""
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {target.key}"}
    ttfb, arrivals, done = 0.0, [], False
    async with session.post(target.url, json=body(prompt, True), headers=headers) as response:
        if response.status != 200:
            raise RuntimeError(f"{target.name}: {response.status} {await response.text()}")
        buffer = b""
        async for chunk in response.content.iter_any():
            now = time.perf_counter()
            ttfb = ttfb or now - started
            buffer += chunk
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                if event.startswith(b"data: [DONE]"):
                    done = True
                elif b'"content":"' in event.replace(b": ", b":") and b'"content":""' not in (
                    event.replace(b": ", b":")
                ):
                    arrivals.append(now)
    if not done:
        raise RuntimeError(f"{target.name}: stream ended without [DONE]")
    return ttfb, arrivals, len(arrivals)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def measure(targets: list[Target], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {t.name: {} for t in targets}
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for t in targets:  # warm up connections, caches, the JIT-less paths
            for _ in range(20):
                await one(session, t, "[chunks:8]")
        lat: dict[str, list[float]] = {t.name: [] for t in targets}
        for i in range(args.requests):
            for t in targets[i % len(targets) :] + targets[: i % len(targets)]:
                lat[t.name].append(await one(session, t, "[chunks:8]"))
        ttfbs: dict[str, list[float]] = {t.name: [] for t in targets}
        gaps: dict[str, list[float]] = {t.name: [] for t in targets}
        for _ in range(args.streams):
            for t in targets:
                ttfb, arrivals, _ = await stream(session, t, "[chunks:20] [gap:25]")
                ttfbs[t.name].append(ttfb)
                gaps[t.name] += [b - a for a, b in itertools.pairwise(arrivals)]
        for t in targets:
            r = out[t.name]
            r["p50_ms"], r["p99_ms"] = pct(lat[t.name], 50) * 1e3, pct(lat[t.name], 99) * 1e3
            r["ttfb_ms"] = statistics.median(ttfbs[t.name]) * 1e3
            g = gaps[t.name]
            r["gap_p50_ms"], r["gap_p99_ms"] = pct(g, 50) * 1e3, pct(g, 99) * 1e3
            r["held_back"] = sum(1 for x in g if x > 0.040 or x < 0.005)
            r["gaps"] = len(g)
        for t in targets:
            out[t.name]["rps"] = await throughput(session, t, args.seconds)
        for t in targets:
            out[t.name].update(await concurrent_streams(t))
    return out


async def throughput(session: aiohttp.ClientSession, target: Target, seconds: float) -> float:
    done = 0
    stop = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await one(session, target, "[chunks:8]")
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(50)))
    return done / (time.perf_counter() - started)


async def concurrent_streams(target: Target, count: int = 200) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        before = rss_kib(target.pid)
        started = time.perf_counter()
        tasks = [
            asyncio.ensure_future(stream(session, target, "[chunks:30] [gap:150]"))
            for _ in range(count)
        ]
        await asyncio.sleep(2.5)  # all open, mid-stream
        during = rss_kib(target.pid)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        elapsed = time.perf_counter() - started
    errors = [r for r in results if isinstance(r, BaseException)]
    complete = sum(1 for r in results if not isinstance(r, BaseException) and r[2] == 30)
    return {
        "streams_ok": complete,
        "stream_errors": len(errors),
        "first_error": repr(errors[0])[:200] if errors else "",
        "kib_per_stream": (during - before) / count,
        "rss_mib": during / 1024,
        "streams_s": elapsed,  # 4.5 s of upstream time each, all at once
    }


def start(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A server process; its output goes to a log file named in the error if it fails."""
    log = tempfile.NamedTemporaryFile(prefix="llm-bench-", suffix=".log", delete=False)
    print(f"starting {os.path.basename(cmd[0])} {' '.join(cmd[1:3])} (log {log.name})", flush=True)
    return subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--streams", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--no-litellm", action="store_true")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the servers on the way out
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    work = tempfile.mkdtemp(prefix="llm-bench-")
    key = setup_store(os.path.join(work, "data"))
    ports = {name: free_port() for name in ("standin", "gateway", "litellm", "relay")}
    standin = f"http://127.0.0.1:{ports['standin']}"
    procs: list[subprocess.Popen[bytes]] = []
    targets: list[Target] = []
    try:
        procs.append(start([sys.executable, "-m", "devstack.llm", "--port", str(ports["standin"])]))
        gateway_env = {
            "CODITECT_DATA_DIR": os.path.join(work, "data"),
            "PORT": str(ports["gateway"]),
            "CODITECT_LLM_OPENAI_URL": f"{standin}/v1",
            "LOG_LEVEL": "WARNING",
        }
        procs.append(start([sys.executable, "-m", "shared.llm"], gateway_env))
        gateway = f"http://127.0.0.1:{ports['gateway']}"
        relay_code = (
            "import waitress; from devstack.llm import OriginRelay; "
            f"waitress.serve(OriginRelay(lambda: '{gateway}'), host='127.0.0.1', "
            f"port={ports['relay']}, threads=16, _quiet=True)"
        )
        procs.append(start([sys.executable, "-c", relay_code]))
        targets = [
            Target("direct", f"{standin}/v1/chat/completions", "sk-standin-openai", procs[0].pid),
            Target("gateway", f"{gateway}/api/llm/v1/chat/completions", key, procs[1].pid),
            Target(
                "wsgi-relay+gateway",
                f"http://127.0.0.1:{ports['relay']}/api/llm/v1/chat/completions",
                key,
                procs[2].pid,
            ),
        ]
        if not args.no_litellm:
            config = os.path.join(work, "litellm.yaml")
            with open(config, "w") as fh:
                json.dump(
                    {
                        "model_list": [
                            {
                                "model_name": MODEL,
                                "litellm_params": {
                                    "model": f"openai/{MODEL}",
                                    "api_base": f"{standin}/v1",
                                    "api_key": "sk-standin-openai",
                                },
                            }
                        ],
                        "litellm_settings": {"telemetry": False},
                    },
                    fh,
                )
            binary = ensure_litellm()
            master_key = f"sk-bench-{os.urandom(16).hex()}"  # LiteLLM refuses to start without
            litellm_env = {
                "LITELLM_LOG": "ERROR",
                "LITELLM_TELEMETRY": "False",
                "LITELLM_MASTER_KEY": master_key,
            }
            procs.append(
                start(
                    [
                        binary,
                        "--config",
                        config,
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(ports["litellm"]),
                        "--num_workers",
                        "1",
                    ],
                    litellm_env,
                )
            )
            litellm = f"http://127.0.0.1:{ports['litellm']}"
            targets.append(
                Target("litellm", f"{litellm}/v1/chat/completions", master_key, procs[-1].pid)
            )
        loop = asyncio.new_event_loop()
        loop.run_until_complete(wait_ready(f"{standin}/v1/models"))
        loop.run_until_complete(wait_ready(f"{gateway}/healthz"))
        if not args.no_litellm:
            loop.run_until_complete(wait_ready(f"{litellm}/health/liveliness", 180))
        results = loop.run_until_complete(measure(targets, args))
        report(results)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def report(results: dict[str, dict[str, Any]]) -> None:
    direct = results["direct"]
    print(
        "| target | p50 ms | p99 ms | added p50 | added p99 | TTFB ms | added TTFB | "
        "gap p50/p99 ms | held back | req/s @50 | 200 streams ok | errors | 200 streams s | "
        "KiB/stream | RSS MiB |"
    )
    print("|" + "---|" * 15)
    for name, r in results.items():
        print(
            f"| {name} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['p50_ms'] - direct['p50_ms']:+.2f} | {r['p99_ms'] - direct['p99_ms']:+.2f} | "
            f"{r['ttfb_ms']:.2f} | {r['ttfb_ms'] - direct['ttfb_ms']:+.2f} | "
            f"{r['gap_p50_ms']:.1f}/{r['gap_p99_ms']:.1f} | {r['held_back']}/{r['gaps']} | "
            f"{r['rps']:.0f} | {r['streams_ok']}/200 | {r['stream_errors']} | "
            f"{r['streams_s']:.1f} | "
            f"{r['kib_per_stream']:.1f} | {r['rss_mib']:.0f} |"
        )
    for name, r in results.items():
        if r["first_error"]:
            print(f"{name}: first stream error: {r['first_error']}")
    if "litellm" in results:
        ours = results["gateway"]["p50_ms"] - direct["p50_ms"]
        theirs = results["litellm"]["p50_ms"] - direct["p50_ms"]
        print(
            f"added p50: gateway {ours:.2f} ms, LiteLLM {theirs:.2f} ms, ratio {ours / theirs:.2f}"
        )


if __name__ == "__main__":
    main()
