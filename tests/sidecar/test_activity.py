"""Activity: input beacons, navigations and launches count; traffic of any kind never does.
Heartbeats are batched to one per interval (0.5 s in these tests), retried, and never block."""

from __future__ import annotations

import asyncio
import json
import re
import time

import aiohttp
import pytest
from aiohttp import WSMsgType

from .conftest import ACTIVITY_TOKEN, SidecarFactory, SidecarUnderTest, wait_for
from .test_websocket import masked_frame, raw_transport

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
INTERVAL = 0.5  # ACTIVITY_INTERVAL_SECONDS in the tests
NAVIGATION = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}


def signals(sc: SidecarUnderTest, source: str) -> float:
    value = sc.state.metrics.registry.get_sample_value(
        "sidecar_activity_signals_total", {"source": source}
    )
    return value or 0.0


async def beacon(
    client: aiohttp.ClientSession, sc: SidecarUnderTest, headers: dict[str, str]
) -> aiohttp.ClientResponse:
    async with client.post(f"{sc.url}/__coditect/activity", headers=headers) as resp:
        await resp.read()
        return resp


async def test_beacons_batched_to_one_heartbeat_per_interval(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    headers = sidecar.bearer()
    started = time.monotonic()
    for _ in range(30):
        assert (await beacon(client, sidecar, headers)).status == 204
    await wait_for(lambda: len(sidecar.sink.posts) == 1)
    first = sidecar.sink.posts[0]
    assert first["authorization"] == f"Bearer {ACTIVITY_TOKEN}"
    assert ISO_UTC.match(first["body"]["last_active"])
    assert set(first["body"]) == {"last_active"}

    # More input soon after: reported once, and not before the interval has passed.
    for _ in range(30):
        assert (await beacon(client, sidecar, headers)).status == 204
    await wait_for(lambda: len(sidecar.sink.posts) == 2)
    gap = sidecar.sink.posts[1]["at"] - sidecar.sink.posts[0]["at"]
    assert gap >= INTERVAL - 0.02
    await asyncio.sleep(INTERVAL + 0.2)
    assert len(sidecar.sink.posts) == 2  # no input, no heartbeat
    assert signals(sidecar, "input") == 60
    assert time.monotonic() - started < 5


async def test_beacon_with_the_cookie_from_this_origin(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    cookie = await sidecar.launch(client)
    await wait_for(lambda: len(sidecar.sink.posts) == 1)  # the launch
    origin = sidecar.url
    async with aiohttp.ClientSession() as bare:
        # What activity.js sends from the IDE page (fetch POST: the browser adds Origin).
        resp = await beacon(bare, sidecar, sidecar.cookie_headers(cookie, Origin=origin))
        assert resp.status == 204
        assert resp.headers["Cache-Control"] == "no-store"
        await wait_for(lambda: len(sidecar.sink.posts) == 2)
        # No Origin: not a browser, which nobody else's page can make send our cookie.
        assert (await beacon(bare, sidecar, sidecar.cookie_headers(cookie))).status == 204
    assert signals(sidecar, "input") == 2
    assert signals(sidecar, "launch") == 1


@pytest.mark.parametrize(
    "origin",
    [
        "http://ws-other.coditect.test",  # a sibling workspace host: same site, Lax cookie sent
        "https://evil.example",
        "null",
    ],
)
async def test_beacon_refused_from_another_origin(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession, origin: str
) -> None:
    cookie = await sidecar.launch(client)
    await wait_for(lambda: len(sidecar.sink.posts) == 1)
    async with aiohttp.ClientSession() as bare:
        async with bare.post(
            f"{sidecar.url}/__coditect/activity",
            headers=sidecar.cookie_headers(cookie, Origin=origin),
        ) as resp:
            assert resp.status == 403
            assert (await resp.json())["error"]["code"] == "forbidden_origin"
    await asyncio.sleep(INTERVAL + 0.2)
    assert len(sidecar.sink.posts) == 1
    assert signals(sidecar, "input") == 0


async def test_beacon_refused_without_credentials(sidecar: SidecarUnderTest) -> None:
    async with aiohttp.ClientSession() as bare:
        for headers in (
            {},
            {"Origin": sidecar.url},
            sidecar.cookie_headers("not-a-session", Origin=sidecar.url),
            sidecar.bearer(sub="someone-else"),
            sidecar.bearer(typ="launch"),
        ):
            async with bare.post(f"{sidecar.url}/__coditect/activity", headers=headers) as resp:
                assert resp.status == 401, headers
                body = await resp.json()
                assert set(body["error"]) == {"code", "message"}
        # Only POST; other methods are answered here, not proxied to the IDE.
        async with bare.get(f"{sidecar.url}/__coditect/activity", headers=sidecar.bearer()) as resp:
            assert resp.status == 405
            assert resp.headers["Allow"] == "POST"
    await asyncio.sleep(INTERVAL + 0.2)
    assert sidecar.sink.posts == []
    assert sidecar.upstream.page_requests == []


async def test_websocket_traffic_is_never_activity(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    """An open, untouched Theia tab: its frontend pings the backend over JSON-RPC every few
    seconds (here every 150 ms for four intervals), the socket carries pings, pongs and
    engine.io heartbeats, and the server pushes. None of it keeps the workspace alive."""
    async with client.ws_connect(sidecar.ws_url(), headers=sidecar.bearer(), autoping=True) as ws:
        transport = raw_transport(ws)
        await ws.send_str("tick:20")  # server pushes and pings every 100 ms meanwhile
        deadline = time.monotonic() + 4 * INTERVAL
        rpc_id = 0
        while time.monotonic() < deadline:
            rpc_id += 1
            ping = {"jsonrpc": "2.0", "id": rpc_id, "method": "ping", "params": []}
            await ws.send_str(json.dumps(ping))
            await ws.send_bytes(b"\x93\x01\xa4ping")  # binary RPC, as msgpack-based versions
            transport.write(masked_frame(0x1, b"2"))  # engine.io ping / pong
            transport.write(masked_frame(0x1, b"3"))
            await ws.ping(b"keepalive")
            await asyncio.sleep(0.15)
        # Even what looks like typing over the socket is traffic, not input.
        await ws.send_str("a")
        await ws.send_bytes(b"x" * 100_000)
        received = 0
        while received < rpc_id * 4 + 2:
            msg = await ws.receive(timeout=5)
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY) and not (
                msg.type == WSMsgType.TEXT and msg.data.startswith("tick ")
            ):
                received += 1
        await asyncio.sleep(INTERVAL + 0.2)
        assert sidecar.sink.posts == []

        # Meanwhile the user reloads the page: that counts.
        async with client.get(f"{sidecar.url}/page", headers={**sidecar.bearer(), **NAVIGATION}):
            pass
        await wait_for(lambda: len(sidecar.sink.posts) == 1)
    assert signals(sidecar, "navigation") == 1
    assert signals(sidecar, "input") == 0


async def test_background_http_is_not_activity(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    headers = sidecar.bearer()
    for dest in ({}, {"Sec-Fetch-Dest": "empty"}, {"Sec-Fetch-Dest": "script"}):
        for _ in range(3):
            async with client.get(f"{sidecar.url}/echo/poll", headers={**headers, **dest}) as r:
                assert r.status == 200
            async with client.post(
                f"{sidecar.url}/echo/rpc", data=b"{}", headers={**headers, **dest}
            ) as r:
                assert r.status == 200
    # HTML loaded into an iframe or fetched: not a top-level navigation.
    for dest in ("iframe", "empty"):
        async with client.get(f"{sidecar.url}/page", headers={**headers, "Sec-Fetch-Dest": dest}):
            pass
    await asyncio.sleep(INTERVAL + 0.2)
    assert sidecar.sink.posts == []


@pytest.mark.parametrize(
    "headers", [NAVIGATION, {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}]
)
async def test_navigation_counts(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    async with client.get(f"{sidecar.url}/page", headers={**sidecar.bearer(), **headers}) as r:
        assert r.status == 200
    await wait_for(lambda: len(sidecar.sink.posts) == 1)
    assert signals(sidecar, "navigation") == 1


async def test_upgrade_alone_is_not_activity(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    for _ in range(3):  # a tab reconnecting its socket
        async with client.ws_connect(sidecar.ws_url(), headers=sidecar.bearer()) as ws:
            await ws.close()
    await asyncio.sleep(INTERVAL + 0.2)
    assert sidecar.sink.posts == []


async def test_launch_counts_but_probes_session_script_and_refusals_do_not(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    for path in ("/healthz", "/readyz", "/echo", "/__coditect/session", "/__coditect/activity.js"):
        async with client.get(f"{sidecar.url}{path}") as resp:
            await resp.read()
    # Refused navigations and beacons (no credentials) are not activity either.
    async with client.get(f"{sidecar.url}/page", headers=NAVIGATION) as resp:
        assert resp.status == 401
    async with client.post(f"{sidecar.url}/__coditect/activity") as resp:
        assert resp.status == 401
    await asyncio.sleep(INTERVAL + 0.2)
    assert sidecar.sink.posts == []

    cookie = await sidecar.launch(client)
    await wait_for(lambda: len(sidecar.sink.posts) == 1)
    # With the session: the script and the session check are still not activity.
    async with aiohttp.ClientSession() as bare:
        for path in ("/__coditect/session", "/__coditect/activity.js"):
            async with bare.get(f"{sidecar.url}{path}", headers=sidecar.cookie_headers(cookie)):
                pass
    await asyncio.sleep(INTERVAL + 0.2)
    assert len(sidecar.sink.posts) == 1
    assert signals(sidecar, "launch") == 1


async def test_activity_script(make_sidecar: SidecarFactory, client: aiohttp.ClientSession) -> None:
    sc = await make_sidecar(activity_beacon_seconds=0.25)
    cookie = await sc.launch(client)
    async with aiohttp.ClientSession() as bare:
        headers = sc.cookie_headers(cookie)
        async with bare.get(f"{sc.url}/__coditect/activity.js", headers=headers) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "text/javascript; charset=utf-8"
            assert resp.headers["Cache-Control"] == "private, max-age=3600"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            etag = resp.headers["ETag"]
            script = await resp.text()
        # The throttle comes from ACTIVITY_BEACON_SECONDS.
        assert "const THROTTLE_MS = 250;" in script
        for event in ("keydown", "mousedown", "pointerdown", "wheel", "touchstart", "input"):
            assert f'"{event}"' in script
        assert "window.addEventListener(type, beat, options)" in script
        assert "capture: true" in script and "passive: true" in script
        assert 'fetch("/__coditect/activity"' in script
        assert 'method: "POST"' in script and "keepalive: true" in script
        assert ".catch(() => {})" in script  # a failed beacon never surfaces in the page
        async with bare.get(
            f"{sc.url}/__coditect/activity.js", headers={**headers, "If-None-Match": etag}
        ) as resp:
            assert resp.status == 304
        async with bare.get(f"{sc.url}/__coditect/activity.js") as resp:
            assert resp.status == 401
        async with bare.post(f"{sc.url}/__coditect/activity.js", headers=headers) as resp:
            assert resp.status == 405


async def test_retry_on_500_then_success(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    sidecar.sink.statuses = [500, 503]
    assert (await beacon(client, sidecar, sidecar.bearer())).status == 204
    await wait_for(lambda: len(sidecar.sink.delivered) == 1)
    assert [p["status"] for p in sidecar.sink.posts] == [500, 503, 204]
    # Backoff with jitter: 0.025-0.05 s, then 0.05-0.1 s between attempts.
    attempts = [p["at"] for p in sidecar.sink.posts]
    assert attempts[1] - attempts[0] >= 0.02
    assert attempts[2] - attempts[1] >= 0.045
    registry = sidecar.state.metrics.registry
    assert registry.get_sample_value("sidecar_activity_heartbeats_total", {"result": "ok"}) == 1
    assert registry.get_sample_value("sidecar_activity_heartbeats_total", {"result": "retry"}) == 2


async def test_4xx_dropped_without_retry(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    sidecar.sink.statuses = [403]
    assert (await beacon(client, sidecar, sidecar.bearer())).status == 204
    await wait_for(lambda: len(sidecar.sink.posts) == 1)
    await asyncio.sleep(0.3)
    assert [p["status"] for p in sidecar.sink.posts] == [403]


async def test_activity_endpoint_down_never_blocks_requests(
    make_sidecar: SidecarFactory, client: aiohttp.ClientSession
) -> None:
    sc = await make_sidecar(activity_url="http://127.0.0.1:9/activity")
    started = time.monotonic()
    for _ in range(10):
        assert (await beacon(client, sc, sc.bearer())).status == 204
        async with client.get(f"{sc.url}/page", headers={**sc.bearer(), **NAVIGATION}) as resp:
            assert resp.status == 200
    assert time.monotonic() - started < 1
