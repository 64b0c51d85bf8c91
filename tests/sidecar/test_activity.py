"""Activity: what counts, batching to one heartbeat per interval, retries, and what never counts."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp
from aiohttp import WSMsgType

from .conftest import ACTIVITY_TOKEN, SidecarFactory, SidecarUnderTest, wait_for
from .test_websocket import masked_frame, raw_transport

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


async def test_many_requests_one_heartbeat_per_interval(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    headers = sidecar.bearer()
    started = time.monotonic()
    for _ in range(30):
        async with client.get(f"{sidecar.url}/echo", headers=headers) as resp:
            assert resp.status == 200
    await wait_for(lambda: len(sidecar.sink.posts) == 1)
    first = sidecar.sink.posts[0]
    assert first["authorization"] == f"Bearer {ACTIVITY_TOKEN}"
    assert ISO_UTC.match(first["body"]["last_active"])
    assert set(first["body"]) == {"last_active"}

    # More activity soon after: reported once, and not before the interval has passed.
    for _ in range(30):
        async with client.get(f"{sidecar.url}/echo", headers=headers) as resp:
            assert resp.status == 200
    await wait_for(lambda: len(sidecar.sink.posts) == 2)
    gap = sidecar.sink.posts[1]["at"] - sidecar.sink.posts[0]["at"]
    assert gap >= 0.5 - 0.02  # ACTIVITY_INTERVAL_SECONDS in the tests
    await asyncio.sleep(0.7)
    assert len(sidecar.sink.posts) == 2  # no activity, no heartbeat
    assert time.monotonic() - started < 5


async def test_websocket_user_frames_count_but_not_pings_pushes_or_heartbeats(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    async with client.ws_connect(sidecar.ws_url(), headers=sidecar.bearer(), autoping=True) as ws:
        transport = raw_transport(ws)
        await ws.ping(b"keepalive")
        # engine.io heartbeats ("2" ping, "3" pong) are keep-alives, not the user.
        transport.write(masked_frame(0x1, b"2"))
        transport.write(masked_frame(0x1, b"3"))
        assert await ws.receive_str(timeout=5) == "2"
        assert await ws.receive_str(timeout=5) == "3"
        await asyncio.sleep(0.6)
        assert sidecar.sink.posts == []

        # A user message: reported once.
        await ws.send_str("tick:10")
        await wait_for(lambda: len(sidecar.sink.posts) == 1)
        # Then a second of server pushes and server pings (our client pongs automatically)
        # plus client engine.io heartbeats: nothing to report.
        ticks, heartbeats, sent = 0, 0, 0
        while ticks < 10 or heartbeats < sent:
            message = await ws.receive_str(timeout=5)
            if message == "3":
                heartbeats += 1
                continue
            assert message == f"tick {ticks}"
            if ticks % 3 == 0:  # client heartbeat and ping while the server pushes
                transport.write(masked_frame(0x1, b"3"))
                await ws.ping(b"k")
                sent += 1
            ticks += 1
        await asyncio.sleep(0.6)
        assert len(sidecar.sink.posts) == 1

        await ws.send_bytes(b"typing")
        assert await ws.receive_bytes(timeout=5) == b"typing"
        await wait_for(lambda: len(sidecar.sink.posts) == 2)


async def test_upgrade_alone_is_not_activity(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    async with client.ws_connect(sidecar.ws_url(), headers=sidecar.bearer(), autoping=False) as ws:
        await ws.send_str("push:3")
        for _ in range(6):
            msg = await ws.receive(timeout=5)
            assert msg.type in (WSMsgType.PING, WSMsgType.TEXT)
    assert len(sidecar.sink.posts) == 1  # only the "push:3" command
    async with client.ws_connect(sidecar.ws_url(), headers=sidecar.bearer()) as ws:
        await ws.close()
    await asyncio.sleep(0.7)
    assert len(sidecar.sink.posts) == 1


async def test_probes_launch_and_refusals_are_not_activity(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    for path in ("/healthz", "/readyz", "/echo", "/__coditect/session"):
        async with client.get(f"{sidecar.url}{path}") as resp:
            await resp.read()
    await sidecar.launch(client)
    await asyncio.sleep(0.7)
    assert sidecar.sink.posts == []


async def test_retry_on_500_then_success(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    sidecar.sink.statuses = [500, 503]
    async with client.get(f"{sidecar.url}/echo", headers=sidecar.bearer()) as resp:
        assert resp.status == 200
    await wait_for(lambda: len(sidecar.sink.delivered) == 1)
    assert [p["status"] for p in sidecar.sink.posts] == [500, 503, 204]
    # Backoff: 0.05 s then 0.1 s between attempts.
    attempts = [p["at"] for p in sidecar.sink.posts]
    assert attempts[2] - attempts[1] >= attempts[1] - attempts[0] >= 0.04
    registry = sidecar.state.metrics.registry
    assert registry.get_sample_value("sidecar_activity_heartbeats_total", {"result": "ok"}) == 1
    assert registry.get_sample_value("sidecar_activity_heartbeats_total", {"result": "retry"}) == 2


async def test_4xx_dropped_without_retry(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    sidecar.sink.statuses = [403]
    async with client.get(f"{sidecar.url}/echo", headers=sidecar.bearer()) as resp:
        assert resp.status == 200
    await wait_for(lambda: len(sidecar.sink.posts) == 1)
    await asyncio.sleep(0.3)
    assert [p["status"] for p in sidecar.sink.posts] == [403]


async def test_activity_endpoint_down_never_blocks_traffic(
    make_sidecar: SidecarFactory, client: aiohttp.ClientSession
) -> None:
    sc = await make_sidecar(activity_url="http://127.0.0.1:9/activity")
    started = time.monotonic()
    for _ in range(10):
        async with client.get(f"{sc.url}/echo", headers=sc.bearer()) as resp:
            assert resp.status == 200
    assert time.monotonic() - started < 1
