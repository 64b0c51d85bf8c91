"""Sidecar vs nginx: WebSocket relay cost on loopback, interleaved rounds, medians reported.

Needs Debian's nginx at /usr/sbin/nginx (``apt-get install -y nginx-light`` or ``nginx``) and the
sidecar's Python dependencies; it installs nothing. Run from the repository root:

    python bench/sidecar_bench.py [--rounds 5] [--seconds 2] [--idle 1000]

Processes (all on 127.0.0.1, all stopped at the end):
  * upstream: a minimal uvloop WebSocket echo server (plus the JWKS and an activity sink the
    sidecar needs), so the upstream costs as little as possible and proxy differences show;
  * the sidecar (``python -m sidecar``) and nginx (``worker_processes 1``, config in a temp
    dir, loopback only, access log off), both restarted fresh every round;
  * clients in their own process, speaking raw WebSocket frames from protocol callbacks.

Per round and per target (direct / sidecar / nginx, in rotating order):
  * latency: one connection, sequential 32-byte text round trips, p50 and p99;
  * throughput: 100 connections, each a closed loop of round trips, for --seconds;
  * CPU: the proxy's user+sys time (/proc/PID/stat, all nginx processes) over the throughput
    run, divided by the round trips;
  * memory: RSS growth of the proxy with --idle open idle WebSockets, after every one of them
    echoed a message (connections are opened without a pool limit).
The table shows medians over rounds; "added" latency is proxy minus direct in the same round.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NGINX = "/usr/sbin/nginx"
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PAYLOAD = 32
CLK_TCK = os.sysconf("SC_CLK_TCK")


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def client_frame(payload: bytes, mask: bytes) -> bytes:
    assert len(payload) < 126
    masked = (
        int.from_bytes(payload, "big")
        ^ int.from_bytes((mask * (len(payload) // 4 + 1))[: len(payload)], "big")
    ).to_bytes(len(payload), "big")
    return bytes((0x81, 0x80 | len(payload))) + mask + masked


# -- upstream: raw WebSocket echo --------------------------------------------------------------


class EchoServer(asyncio.Protocol):
    """Just enough RFC 6455 to echo: handshake, masked frames, ping, close."""

    def __init__(self) -> None:
        self.buf = b""
        self.upgraded = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end], self.buf[end + 4 :]
            key = b""
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"sec-websocket-key":
                    key = value.strip()
            accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
            assert self.transport is not None
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            self.upgraded = True
        self._frames()

    def _frames(self) -> None:
        buf = self.buf
        pos = 0
        out = []
        while len(buf) - pos >= 6:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            hlen = 6
            if length == 126:
                hlen = 8
                if len(buf) - pos < hlen:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
            elif length == 127:
                hlen = 14
                if len(buf) - pos < hlen:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            if len(buf) - pos < hlen + length:
                break
            mask = buf[pos + hlen - 4 : pos + hlen]
            raw = buf[pos + hlen : pos + hlen + length]
            payload = (
                int.from_bytes(raw, "big")
                ^ int.from_bytes((mask * (length // 4 + 1))[:length], "big")
            ).to_bytes(length, "big")
            pos += hlen + length
            opcode = b0 & 0x0F
            if opcode == 0x9:
                opcode = 0xA
            elif opcode == 0x8:
                out.append(bytes((0x88, len(payload))) + payload)
                assert self.transport is not None
                self.transport.write(b"".join(out))
                self.transport.close()
                self.buf = b""
                return
            if length < 126:
                out.append(bytes((0x80 | opcode, length)) + payload)
            elif length < 65536:
                out.append(bytes((0x80 | opcode, 126)) + length.to_bytes(2, "big") + payload)
            else:
                out.append(bytes((0x80 | opcode, 127)) + length.to_bytes(8, "big") + payload)
        self.buf = buf[pos:]
        if out:
            assert self.transport is not None
            self.transport.write(b"".join(out))


async def run_upstream(port: int, aux_port: int, document: bytes) -> None:
    from aiohttp import web

    loop = asyncio.get_running_loop()
    server = await loop.create_server(EchoServer, "127.0.0.1", port, backlog=4096)

    async def jwks(request: web.Request) -> web.Response:
        return web.Response(body=document, content_type="application/json")

    async def activity(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/jwks.json", jwks)
    app.router.add_post("/activity", activity)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", aux_port).start()
    print("ready", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()
    await runner.cleanup()


# -- clients -----------------------------------------------------------------------------------


def handshake(port: int, path: str, token: str | None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class ClientConn(asyncio.Protocol):
    """Sends a frame, waits for the echo (server frames: 2-byte header + payload), repeats."""

    def __init__(self, hello: bytes, mode: str, stats: dict[str, Any]) -> None:
        self.hello = hello
        self.mode = mode
        self.stats = stats
        self.payload = os.urandom(PAYLOAD // 2).hex().encode()
        self.frame = client_frame(self.payload, os.urandom(4))
        self.expect = 2 + PAYLOAD
        self.buf = b""
        self.upgraded = False
        self.running = False
        self.sent_at = 0
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.echoed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.hello)

    def connection_lost(self, exc: BaseException | None) -> None:
        for fut in (self.ready, self.echoed):
            if not fut.done():
                fut.set_exception(ConnectionError("closed"))

    def send(self) -> None:
        self.sent_at = time.perf_counter_ns()
        assert self.transport is not None
        self.transport.write(self.frame)

    def data_received(self, data: bytes) -> None:
        if not self.upgraded:
            self.buf += data
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buf.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(ConnectionError(self.buf[:40].decode()))
                return
            self.upgraded = True
            self.buf = self.buf[end + 4 :]
            self.ready.set_result(None)
            return
        self.buf += data
        while len(self.buf) >= self.expect:
            frame, self.buf = self.buf[: self.expect], self.buf[self.expect :]
            if self.mode == "verify":
                if frame == bytes((0x81, PAYLOAD)) + self.payload and not self.echoed.done():
                    self.echoed.set_result(None)
                continue
            now = time.perf_counter_ns()
            if self.mode == "latency":
                self.stats["samples"].append(now - self.sent_at)
                if len(self.stats["samples"]) >= self.stats["target"]:
                    self.stats["done"].set_result(None)
                    continue
            else:
                self.stats["count"] += 1
            if self.running:
                self.send()


async def connect(
    port: int, path: str, token: str | None, mode: str, stats: dict[str, Any]
) -> ClientConn:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(
        lambda: ClientConn(handshake(port, path, token), mode, stats), "127.0.0.1", port
    )
    await asyncio.wait_for(conn.ready, 10)
    return conn


async def run_client(args: argparse.Namespace) -> None:
    token = args.token or None
    result: dict[str, Any] = {}
    if args.mode == "latency":
        # All targets in one process, round trips alternating between them, so each sample
        # of each target sees the same moment of a noisy machine.
        targets = [t.split(":", 2) for t in args.targets.split(",")]
        loop = asyncio.get_running_loop()
        conns: dict[str, ClientConn] = {}
        samples: dict[str, list[int]] = {}
        for name, port, tok in targets:
            conns[name] = await connect(int(port), "/ws", tok or None, "verify", {})
            samples[name] = []
        for i in range(args.count + 200):
            for name in conns if i % 2 else reversed(conns):
                conn = conns[name]
                conn.echoed = loop.create_future()
                started = time.perf_counter_ns()
                conn.send()
                await conn.echoed
                if i >= 200:  # warm-up
                    samples[name].append(time.perf_counter_ns() - started)
        for name, values in samples.items():
            values.sort()
            result[name] = {
                "p50_us": values[len(values) // 2] / 1000,
                "p99_us": values[int(len(values) * 0.99)] / 1000,
            }
    elif args.mode == "throughput":
        stats = {"count": 0}
        conns = await asyncio.gather(
            *(connect(args.port, "/ws", token, "throughput", stats) for _ in range(args.conns))
        )
        for c in conns:
            c.running = True
            c.send()
        await asyncio.sleep(0.3)  # warm-up
        print("start", flush=True)  # the orchestrator samples the proxy's CPU time now
        start_count, started = stats["count"], time.perf_counter()
        await asyncio.sleep(args.seconds)
        count, elapsed = stats["count"] - start_count, time.perf_counter() - started
        print("stop", flush=True)
        for c in conns:
            c.running = False
        result = {"round_trips": count, "seconds": elapsed, "rps": count / elapsed}
    elif args.mode == "idle":
        conns = []
        for i in range(0, args.conns, 100):  # batches: don't overflow listen backlogs
            batch = min(100, args.conns - i)
            conns += await asyncio.gather(
                *(connect(args.port, "/ws", token, "verify", {}) for _ in range(batch))
            )
        for c in conns:
            c.send()
        await asyncio.wait_for(asyncio.gather(*(c.echoed for c in conns)), 30)
        print(json.dumps({"open": len(conns), "echoed": len(conns)}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        for c in conns:
            assert c.transport is not None
            c.transport.close()
        return
    print(json.dumps(result), flush=True)


# -- orchestration -----------------------------------------------------------------------------


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def wait_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="sidecar-bench-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.upstream_port = free_port()
        self.aux_port = free_port()

    def spawn(
        self, argv: list[str], env: dict[str, str] | None = None, **kw: Any
    ) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, **kw)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc in self.procs:
            self.procs.remove(proc)

    def close(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- setup --

    def start_upstream(self) -> None:
        import jwt
        from cryptography.hazmat.primitives.asymmetric import ec
        from jwt.algorithms import ECAlgorithm

        key = ec.generate_private_key(ec.SECP256R1())
        self.key = key  # bench/ide_sidecar_bench.py signs launch tokens with it
        jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
        jwk.update({"kid": "bench", "alg": "ES256", "use": "sig"})
        (self.tmp / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
        now = int(time.time())
        claims = {
            "iss": "bench",
            "aud": "workspace:bench",
            "sub": "u",
            "tid": "t",
            "typ": "workspace",
            "iat": now,
            "exp": now + 3600,
            "jti": uuid.uuid4().hex,
        }
        self.token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "bench"})
        proc = self.spawn(
            [
                sys.executable,
                __file__,
                "upstream",
                "--port",
                str(self.upstream_port),
                "--aux-port",
                str(self.aux_port),
                "--jwks",
                str(self.tmp / "jwks.json"),
            ],
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"

    def start_sidecar(self) -> tuple[subprocess.Popen[bytes], int, list[int]]:
        port, metrics_port = free_port(), free_port()
        env = dict(os.environ)
        env.update(
            UPSTREAM_URL=f"http://127.0.0.1:{self.upstream_port}",
            LISTEN_HOST="127.0.0.1",
            LISTEN_PORT=str(port),
            METRICS_HOST="127.0.0.1",
            METRICS_PORT=str(metrics_port),
            JWKS_URL=f"http://127.0.0.1:{self.aux_port}/jwks.json",
            TOKEN_ISSUER="bench",
            WORKSPACE_ID="bench",
            USER_ID="u",
            TENANT_ID="t",
            ACTIVITY_URL=f"http://127.0.0.1:{self.aux_port}/activity",
            ACTIVITY_TOKEN="bench-activity",
            MAX_CONNECTIONS="5000",
            SHUTDOWN_GRACE_SECONDS="1",
            LOG_LEVEL="WARNING",
            PYTHONPATH=str(ROOT),
        )
        proc = self.spawn([sys.executable, "-m", "sidecar"], env=env, stdout=subprocess.DEVNULL)
        wait_port(port)
        return proc, port, [proc.pid]

    def start_nginx(self) -> tuple[subprocess.Popen[bytes], int, list[int]]:
        port = free_port()
        prefix = self.tmp / f"nginx-{port}"
        prefix.mkdir()
        conf = prefix / "nginx.conf"
        conf.write_text(
            f"""
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
worker_rlimit_nofile 20000;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://127.0.0.1:{self.upstream_port};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 3600s;
        }}
    }}
}}
"""
        )
        proc = self.spawn([NGINX, "-p", str(prefix), "-c", str(conf)], stderr=subprocess.DEVNULL)
        wait_port(port)
        time.sleep(0.1)
        return proc, port, [proc.pid, *children(proc.pid)]

    # -- measurements --

    def client(self, mode: str, port: int, token: str | None, **kw: Any) -> subprocess.Popen[bytes]:
        argv = [
            sys.executable,
            __file__,
            "client",
            "--mode",
            mode,
            "--port",
            str(port),
            "--token",
            token or "",
        ]
        for k, v in kw.items():
            argv += [f"--{k}", str(v)]
        return self.spawn(argv, stdout=subprocess.PIPE, stdin=subprocess.PIPE)

    def latency(self, targets: dict[str, tuple[int, str | None, list[int]]]) -> dict[str, Any]:
        spec = ",".join(
            f"{name}:{port}:{token or ''}" for name, (port, token, _) in targets.items()
        )
        proc = self.client("latency", 0, None, targets=spec, count=self.args.latency_count)
        out, _ = proc.communicate(timeout=300)
        self.procs.remove(proc)
        return json.loads(out.splitlines()[-1])

    def throughput(self, port: int, token: str | None, pids: list[int]) -> dict[str, float]:
        proc = self.client("throughput", port, token, conns=100, seconds=self.args.seconds)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"start"
        cpu0 = cpu_seconds(pids) if pids else 0.0
        assert proc.stdout.readline().strip() == b"stop"
        cpu1 = cpu_seconds(pids) if pids else 0.0
        result = json.loads(proc.stdout.readline())
        proc.wait(30)
        self.procs.remove(proc)
        if pids:
            result["cpu_us_per_rt"] = (cpu1 - cpu0) * 1e6 / result["round_trips"]
        return result

    def idle(self, port: int, token: str | None, pids: list[int]) -> float:
        # Warm up allocator and code paths with one short batch first.
        warm = self.client("idle", port, token, conns=100)
        assert warm.stdout is not None and warm.stdin is not None
        json.loads(warm.stdout.readline())
        warm.stdin.write(b"\n")
        warm.stdin.flush()
        warm.wait(30)
        self.procs.remove(warm)
        time.sleep(0.3)
        before = rss_kb(pids)
        proc = self.client("idle", port, token, conns=self.args.idle)
        assert proc.stdout is not None and proc.stdin is not None
        status = json.loads(proc.stdout.readline())
        assert status["echoed"] == self.args.idle, status
        time.sleep(0.3)
        after = rss_kb(pids)
        proc.stdin.write(b"\n")
        proc.stdin.flush()
        proc.wait(30)
        self.procs.remove(proc)
        return (after - before) / self.args.idle

    def run(self) -> None:
        self.start_upstream()
        rows: dict[str, dict[str, list[float]]] = {t: {} for t in ("direct", "sidecar", "nginx")}

        def add(target: str, metric: str, value: float) -> None:
            rows[target].setdefault(metric, []).append(value)

        for rnd in range(self.args.rounds):
            sidecar, sc_port, sc_pids = self.start_sidecar()
            nginx, ng_port, ng_pids = self.start_nginx()
            targets = {
                "direct": (self.upstream_port, None, []),
                "sidecar": (sc_port, self.token, sc_pids),
                "nginx": (ng_port, None, ng_pids),
            }
            order = list(targets)
            order = order[rnd % 3 :] + order[: rnd % 3]  # rotate who goes first
            lat = self.latency({name: targets[name] for name in order})
            for name in order:
                port, token, pids = targets[name]
                tp = self.throughput(port, token, pids)
                add(name, "rps", tp["rps"])
                if pids:
                    add(name, "cpu_us_per_rt", tp["cpu_us_per_rt"])
                    add(name, "kb_per_idle", self.idle(port, token, pids))
            for name in order:
                add(name, "p50_us", lat[name]["p50_us"])
                add(name, "p99_us", lat[name]["p99_us"])
                if name != "direct":
                    add(name, "added_p50_us", lat[name]["p50_us"] - lat["direct"]["p50_us"])
                    add(name, "added_p99_us", lat[name]["p99_us"] - lat["direct"]["p99_us"])
            self.stop(sidecar)
            self.stop(nginx)
            print(f"round {rnd + 1}/{self.args.rounds} done", file=sys.stderr, flush=True)
        self.report(rows)

    def report(self, rows: dict[str, dict[str, list[float]]]) -> None:
        def med(target: str, metric: str) -> float | None:
            values = rows[target].get(metric)
            return statistics.median(values) if values else None

        def fmt(value: float | None, digits: int = 1) -> str:
            return "—" if value is None else f"{value:,.{digits}f}"

        metrics = [
            ("round trip p50 (µs)", "p50_us", 1),
            ("round trip p99 (µs)", "p99_us", 1),
            ("added p50 (µs)", "added_p50_us", 1),
            ("added p99 (µs)", "added_p99_us", 1),
            ("round trips/s, 100 conns", "rps", 0),
            ("CPU µs per round trip", "cpu_us_per_rt", 2),
            (f"KB per idle conn ({self.args.idle})", "kb_per_idle", 1),
        ]
        print(f"\nmedians of {self.args.rounds} interleaved rounds\n")
        print(
            f"| {'metric':<28} | {'direct':>10} | {'sidecar':>10} | {'nginx':>10} | sidecar/nginx |"
        )
        print(f"|{'-' * 30}|{'-' * 12}|{'-' * 12}|{'-' * 12}|{'-' * 15}|")
        for label, key, digits in metrics:
            sc, ng = med("sidecar", key), med("nginx", key)
            ratio = f"{sc / ng:.2f}x" if sc is not None and ng else "—"
            print(
                f"| {label:<28} | {fmt(med('direct', key), digits):>10} | "
                f"{fmt(sc, digits):>10} | {fmt(ng, digits):>10} | {ratio:>13} |"
            )
        print("\nraw per-round values:")
        print(json.dumps(rows, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run")
    for p in (parser, run):
        p.add_argument("--rounds", type=int, default=5)
        p.add_argument("--seconds", type=float, default=2.0)
        p.add_argument("--idle", type=int, default=1000)
        p.add_argument("--latency-count", type=int, default=3000)
    up = sub.add_parser("upstream")
    up.add_argument("--port", type=int, required=True)
    up.add_argument("--aux-port", type=int, required=True)
    up.add_argument("--jwks", required=True)
    cl = sub.add_parser("client")
    cl.add_argument("--mode", choices=["latency", "throughput", "idle"], required=True)
    cl.add_argument("--port", type=int, required=True)
    cl.add_argument("--token", default="")
    cl.add_argument("--targets", default="", help="latency: name:port:token,...")
    cl.add_argument("--count", type=int, default=3000)
    cl.add_argument("--conns", type=int, default=100)
    cl.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    raise_fd_limit()
    try:
        import uvloop
    except ImportError:
        uvloop = None  # type: ignore[assignment]
    runner = uvloop.run if uvloop is not None else asyncio.run
    if args.command == "upstream":
        runner(run_upstream(args.port, args.aux_port, Path(args.jwks).read_bytes()))
    elif args.command == "client":
        runner(run_client(args))
    else:
        if not Path(NGINX).exists():
            sys.exit(f"{NGINX} not found: apt-get install -y nginx-light")
        bench = Bench(args)
        try:
            bench.run()
        finally:
            bench.close()


if __name__ == "__main__":
    main()
