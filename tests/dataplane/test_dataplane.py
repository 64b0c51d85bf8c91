"""The local data plane through `python -m devstack`: a ready workspace's launch URL goes through a
real sidecar to the placeholder IDE with a cookie, and stop/start/delete/restart manage the
processes. Clients are real (aiohttp, requests); a workspace's host is ``<id>.localhost``,
which they reach on loopback, and the cookie jar treats it as a secure origin, as Chromium
does."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket

import aiohttp
import pytest
import requests
from yarl import URL

from tests.conftest import free_port
from tests.dataplane.conftest import (
    Stack,
    local_session,
    loopback,
    pid_alive,
    start_stack,
    stop_stack,
    wait_until,
)

COOKIE = "__Host-coditect_ws_session"


def browser_like(origin: str) -> aiohttp.ClientSession:
    return local_session(secure_origin=origin)


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def processes_gone(stack: Stack, state: dict) -> bool:
    pids = (state["sidecar"]["pid"], state["ide"]["pid"])
    return not any(pid_alive(p) for p in pids)


async def open_ide(session: aiohttp.ClientSession, launch_url: str, origin: str) -> str:
    """Follow the launch URL as a browser does; returns the page the session lands on."""
    async with session.get(launch_url) as page:
        assert page.status == 200, await page.text()
        assert [h.status for h in page.history] == [303]
        assert page.history[0].headers["Location"] == "/"
        # The token is gone from the address after the one hop.
        assert str(page.url) == origin + "/" and "token" not in str(page.url)
        return await page.text()


def launch_and_load(launch_url: str, origin: str) -> str:
    async def run() -> str:
        async with browser_like(origin) as session:
            return await open_ide(session, launch_url, origin)

    return asyncio.run(run())


async def anonymous_is_refused(launch_url: str, origin: str) -> None:
    async with local_session() as raw:
        async with raw.get(launch_url, allow_redirects=False) as hop:
            assert hop.status == 303 and hop.headers["Location"] == "/"
            cookie = hop.headers["Set-Cookie"]
            assert cookie.startswith(f"{COOKIE}=")  # __Host-: host-only, Path=/, Secure
            attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
            assert {"httponly", "secure", "samesite=none", "partitioned", "path=/"} < attributes
            assert not any(a.startswith("domain") for a in attributes)
        # Used once: the same launch URL again is refused, and without the cookie so is the IDE.
        async with raw.get(launch_url, allow_redirects=False) as again:
            assert again.status == 401
            assert (await again.json())["error"]["code"] == "token_replayed"
        async with raw.get(origin + "/") as anonymous:
            assert anonymous.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused_ws:
            await raw.ws_connect(origin + "/ws")
        assert refused_ws.value.status == 403


async def echo_with_cookie(launch_url: str, origin: str) -> str:
    async with browser_like(origin) as session:
        page = await open_ide(session, launch_url, origin)
        assert "<title>Coditect workspace</title>" in page
        cookie = session.cookie_jar.filter_cookies(URL(origin))[COOKIE].value
        assert cookie
        async with session.ws_connect(origin + "/ws") as ws:
            await ws.send_str("hello through the sidecar")
            assert (await ws.receive_str(timeout=5)) == "hello through the sidecar"
            await ws.send_bytes(b"\x00\x01binary")
            assert (await ws.receive_bytes(timeout=5)) == b"\x00\x01binary"
        return cookie


def test_launch_url_goes_through_the_sidecar_with_a_cookie(stack: Stack):
    owner = stack.register()
    wid = stack.create(owner, "dev")
    ws = stack.wait_status(owner, wid, "ready")
    origin = ws["url"]
    state = stack.state(wid)
    # Its own host, so its own site: not the app's 127.0.0.1, not another workspace's.
    assert (
        state is not None
        and origin == state["url"] == f"http://{wid}.localhost:{state['sidecar']['port']}"
    )
    assert ws["last_active"] is None
    # The workspace's files (its local PVC) and the IDE's settings as the platform renders them.
    files = state["files"]
    assert files == os.path.join(stack.data_dir, "dataplane", wid, "files")
    with open(os.path.join(files, "notes.txt"), "w") as fh:
        fh.write("kept across stop and start")
    with open(os.path.join(stack.data_dir, "dataplane", wid, "theia", "settings.json")) as fh:
        assert json.load(fh)["ai-features.chat.defaultChatAgent"] == "Coditect"

    # Ready means reachable: the launch works at once, no waiting for the sidecar.
    launch_url = stack.launch(owner, wid)
    assert launch_url.startswith(origin + "/__coditect/launch?token=")
    asyncio.run(anonymous_is_refused(launch_url, origin))
    old_cookie = asyncio.run(echo_with_cookie(stack.launch(owner, wid), origin))

    # The sidecar's heartbeat reached the platform: the launch (and page load) moved
    # last_active.
    wait_until(lambda: stack.get(owner, wid)["last_active"] is not None, 15, "heartbeat")

    # Another user can neither see nor launch it.
    stranger = stack.register()
    assert stack.post(stranger, wid, "launch").status_code == 404

    # Stop ends both processes; the URL refuses connections.
    assert stack.post(owner, wid, "stop").status_code == 202
    stack.wait_status(owner, wid, "stopped")
    wait_until(lambda: stack.state(wid) is None, 15, "processes ended")
    assert processes_gone(stack, state)
    assert refused(state["sidecar"]["port"]) and refused(state["ide"]["port"])
    assert stack.post(owner, wid, "launch").status_code == 409

    # Start: the same URL again, new processes; the old cookie died with the old sidecar.
    assert stack.post(owner, wid, "start").status_code == 202
    assert stack.wait_status(owner, wid, "ready")["url"] == origin
    restarted = stack.state(wid)
    assert restarted is not None and restarted["sidecar"]["pid"] != state["sidecar"]["pid"]
    url, host = loopback(origin + "/")
    stale = requests.get(url, headers={**host, "Cookie": f"{COOKIE}={old_cookie}"}, timeout=5)
    assert stale.status_code == 401
    assert "Coditect workspace" in launch_and_load(stack.launch(owner, wid), origin)
    with open(os.path.join(files, "notes.txt")) as fh:
        assert fh.read() == "kept across stop and start"

    # Delete: processes gone, the port and the files given back.
    deleted = requests.delete(f"{stack.url}/api/workspaces/{wid}", headers=owner, timeout=10)
    assert deleted.status_code == 202
    stack.wait_status(owner, wid, "deleted")
    wait_until(lambda: stack.state(wid) is None, 15, "processes ended")
    assert processes_gone(stack, restarted)
    assert wid not in stack.ports()
    wait_until(lambda: not os.path.exists(os.path.dirname(files)), 15, "files removed")


def test_each_workspace_gets_its_own_sidecar_bound_to_its_owner(stack: Stack):
    alice, bob = stack.register(), stack.register()
    a, b = stack.create(alice, "a"), stack.create(bob, "b")
    url_a = stack.wait_status(alice, a, "ready")["url"]
    url_b = stack.wait_status(bob, b, "ready")["url"]
    assert url_a != url_b
    # Bob's launch token for his workspace is refused by Alice's sidecar (wrong audience/user).
    token = stack.launch(bob, b).split("?", 1)[1]
    url, host = loopback(f"{url_a}/__coditect/launch?{token}")
    response = requests.get(url, headers=host, allow_redirects=False, timeout=5)
    assert response.status_code == 401
    for headers, wid in ((alice, a), (bob, b)):
        gone = requests.delete(f"{stack.url}/api/workspaces/{wid}", headers=headers, timeout=10)
        assert gone.status_code == 202
        stack.wait_status(headers, wid, "deleted")


def test_a_restarted_stack_brings_ready_workspaces_back_on_the_same_url(tmp_path):
    data_dir, port = str(tmp_path / "data"), free_port()
    first = start_stack(data_dir, port, str(tmp_path / "first.log"))
    try:
        owner = first.register()
        wid = first.create(owner, "keep")
        origin = first.wait_status(owner, wid, "ready")["url"]
        before = first.state(wid)
        assert before is not None
    finally:
        stop_stack(first)
    # Stack stop ends every process it started.
    assert processes_gone(first, before) and refused(before["sidecar"]["port"])
    assert "local data plane" in first.log()

    second = start_stack(data_dir, port, str(tmp_path / "second.log"))
    try:
        # The workspaces component re-checks running workspaces; the data plane starts them again.
        wait_until(lambda: second.state(wid) is not None, 30, "processes after restart")
        assert second.get(owner, wid)["url"] == origin
        after = second.state(wid)
        assert after is not None and after["sidecar"]["port"] == before["sidecar"]["port"]
        assert "Coditect workspace" in launch_and_load(second.launch(owner, wid), origin)
    finally:
        stop_stack(second)
    assert processes_gone(second, after) and refused(after["sidecar"]["port"])


def test_a_crashed_process_of_a_ready_workspace_is_restarted(stack: Stack):
    owner = stack.register()
    wid = stack.create(owner, "crash")
    origin = stack.wait_status(owner, wid, "ready")["url"]
    before = stack.state(wid)
    assert before is not None
    os.kill(before["ide"]["pid"], signal.SIGKILL)  # as restartPolicy: Always does

    def replaced() -> bool:
        now = stack.state(wid)
        return now is not None and now["ide"]["pid"] != before["ide"]["pid"]

    wait_until(replaced, 20, "restart after a crash")
    assert not pid_alive(before["sidecar"]["pid"])  # the pair is restarted together
    assert "Coditect workspace" in launch_and_load(stack.launch(owner, wid), origin)
    gone = requests.delete(f"{stack.url}/api/workspaces/{wid}", headers=owner, timeout=10)
    assert gone.status_code == 202
    stack.wait_status(owner, wid, "deleted")
