"""``python -m sidecar`` as a real process: configuration errors and graceful SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import WSMsgType

from sidecar.config import Config, ConfigError

from .conftest import (
    ACTIVITY_TOKEN,
    ISSUER,
    TENANT,
    USER,
    WORKSPACE,
    ActivitySink,
    Jwks,
    Keys,
    Upstream,
    mint,
)

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(**extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "UPSTREAM_URL": "http://127.0.0.1:3000",
        "JWKS_URL": "http://127.0.0.1:1/.well-known/jwks.json",
        "TOKEN_ISSUER": ISSUER,
        "WORKSPACE_ID": WORKSPACE,
        "USER_ID": USER,
        "TENANT_ID": TENANT,
        "ACTIVITY_URL": "http://127.0.0.1:1/activity",
        "ACTIVITY_TOKEN": ACTIVITY_TOKEN,
        "LISTEN_HOST": "127.0.0.1",
        "METRICS_HOST": "127.0.0.1",
    }
    env.update(extra)
    return env


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"WORKSPACE_ID": ""}, "WORKSPACE_ID"),
        ({"JWKS_URL": "not a url"}, "JWKS_URL"),
        ({"LISTEN_PORT": "eighty"}, "LISTEN_PORT"),
        ({"UPSTREAM_URL": "https://127.0.0.1:3000"}, "UPSTREAM_URL"),
    ],
)
def test_bad_config_refuses_to_start(change: dict[str, str], named: str) -> None:
    env = {k: v for k, v in base_env(**change).items() if v}
    proc = subprocess.run(
        [sys.executable, "-m", "sidecar"], env=env, cwd=ROOT, capture_output=True, timeout=20
    )
    assert proc.returncode == 2
    assert named in proc.stderr.decode()
    assert ACTIVITY_TOKEN not in proc.stdout.decode() + proc.stderr.decode()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"USER_ID": None}, "USER_ID"),
        ({"TENANT_ID": " "}, "TENANT_ID"),
        ({"TOKEN_ISSUER": None}, "TOKEN_ISSUER"),
        ({"ACTIVITY_URL": "ftp://x"}, "ACTIVITY_URL"),
        ({"ACTIVITY_TOKEN": None}, "ACTIVITY_TOKEN"),
        ({"METRICS_PORT": "70000"}, "METRICS_PORT"),
        ({"APP_ORIGIN": "https://app.test/path"}, "APP_ORIGIN"),
        ({"APP_ORIGIN": "https://app.test 'unsafe-inline'"}, "APP_ORIGIN"),
        ({"APP_ORIGIN": "javascript:x"}, "APP_ORIGIN"),
        ({"SESSION_MAX_LIFETIME_SECONDS": "60"}, "SESSION_MAX_LIFETIME_SECONDS"),
        ({"UPSTREAM_URL": "http://127.0.0.1"}, "UPSTREAM_URL"),
        ({"UPSTREAM_URL": "http://127.0.0.1:3000/theia"}, "UPSTREAM_URL"),
        ({"ACTIVITY_INTERVAL_SECONDS": "-1"}, "ACTIVITY_INTERVAL_SECONDS"),
        ({"MAX_CONNECTIONS": "lots"}, "MAX_CONNECTIONS"),
        ({"LISTEN_PORT": "9090"}, "METRICS_PORT"),
    ],
)
def test_config_errors_name_the_variable(change: dict[str, str | None], named: str) -> None:
    env: dict[str, str] = {k: v for k, v in base_env().items()}
    for key, value in change.items():
        if value is None:
            env.pop(key)
        else:
            env[key] = value
    with pytest.raises(ConfigError, match=named):
        Config.from_env(env)


def test_config_defaults() -> None:
    cfg = Config.from_env(base_env())
    assert (cfg.listen_port, cfg.metrics_port) == (8080, 9090)
    assert cfg.cookie_name == "__Host-coditect_ws_session"
    assert cfg.session_max_lifetime_seconds == 12 * 3600
    assert cfg.audience == f"workspace:{WORKSPACE}"
    assert ACTIVITY_TOKEN not in repr(cfg)
    # The app's origin (frame-ancestors): the platform's, where it serves its JWKS, unless set.
    assert cfg.app_origin == "http://127.0.0.1:1"
    other = Config.from_env(base_env(APP_ORIGIN="https://App.Example.test:8443/"))
    assert other.app_origin == "https://app.example.test:8443"


async def wait_until_counted(session: aiohttp.ClientSession, metrics_port: int) -> None:
    """Until the sidecar's metrics show one HTTP request in flight."""
    deadline = time.monotonic() + 5
    while True:
        async with session.get(f"http://127.0.0.1:{metrics_port}/metrics") as resp:
            if 'sidecar_connections_active{kind="http"} 1.0' in await resp.text():
                return
        assert time.monotonic() < deadline, "request never reached the sidecar"
        await asyncio.sleep(0.02)


async def test_sigterm_drains_then_exits(
    keys: Keys, jwks: Jwks, activity_sink: ActivitySink, upstream: Upstream
) -> None:
    port, metrics_port = free_port(), free_port()
    env = base_env(
        UPSTREAM_URL=f"http://127.0.0.1:{upstream.port}",
        JWKS_URL=jwks.url,
        ACTIVITY_URL=activity_sink.url,
        LISTEN_PORT=str(port),
        METRICS_PORT=str(metrics_port),
        SHUTDOWN_GRACE_SECONDS="1.5",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sidecar",
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {mint(keys.current, typ='workspace')}"}
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 15
            while True:
                try:
                    async with session.get(f"{url}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                assert time.monotonic() < deadline, "sidecar did not start"
                await asyncio.sleep(0.05)
            async with session.get(f"http://127.0.0.1:{metrics_port}/metrics") as resp:
                assert "sidecar_connections_active" in await resp.text()

            leaving = await session.ws_connect(f"ws://127.0.0.1:{port}/ws", headers=headers)
            staying = await session.ws_connect(f"ws://127.0.0.1:{port}/ws", headers=headers)

            # An HTTP request in flight (the IDE has not answered yet) when SIGTERM arrives.
            async def slow_request() -> tuple[int, str]:
                async with session.get(f"{url}/stall", headers=headers) as resp:
                    return resp.status, await resp.text()

            in_flight = asyncio.create_task(slow_request())
            await wait_until_counted(session, metrics_port)
            proc.send_signal(signal.SIGTERM)
            terminated = time.monotonic()

            # New connections are refused once the listener is closed.
            async with aiohttp.ClientSession() as fresh:
                while True:
                    try:
                        async with fresh.get(f"{url}/healthz") as resp:
                            await resp.read()
                    except aiohttp.ClientConnectionError:
                        break
                    assert time.monotonic() - terminated < 1, "still accepting"
                    await asyncio.sleep(0.02)

            # The in-flight request completes once the IDE answers, inside the grace period.
            upstream.stall.set()
            assert await asyncio.wait_for(in_flight, timeout=2) == (200, "late")

            # Open WebSockets keep working during the grace period.
            for i in range(5):
                await leaving.send_str(f"still here {i}")
                assert await leaving.receive_str(timeout=2) == f"still here {i}"
                await asyncio.sleep(0.05)
            await leaving.close()
            assert leaving.close_code == 1000

            # The one left open is closed by the server when the grace period ends.
            await staying.send_str("still here")
            assert await staying.receive_str(timeout=2) == "still here"
            msg = await staying.receive(timeout=5)
            assert msg.type == WSMsgType.CLOSE
            assert msg.data == 1001
            assert time.monotonic() - terminated >= 1.4
            await staying.close()

        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
        output = (await proc.stdout.read()).decode() if proc.stdout else ""
        assert '"message": "sidecar stopped"' in output
        assert ACTIVITY_TOKEN not in output
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
