"""IDE sessions end: an absolute lifetime from the launch, and revocation by the platform."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from http.cookies import Morsel

import aiohttp

from .conftest import SidecarFactory, SidecarUnderTest, wait_for

COOKIE = "__Host-coditect_ws_session"


@dataclass
class Answer:
    status: int
    code: str = ""
    renewal: Morsel[str] | None = None


async def get(client: aiohttp.ClientSession, sc: SidecarUnderTest, cookie: str) -> Answer:
    """A request with the cookie: its status, error code and renewed cookie, if any."""
    async with client.get(f"{sc.url}/echo", headers=sc.cookie_headers(cookie)) as resp:
        body = await resp.json()
        morsel = resp.cookies.get(COOKIE)
        if resp.status == 200:
            return Answer(200, renewal=morsel)
        # A refused cookie is cleared, in its own partition (the same attributes).
        assert morsel is not None and morsel.value == "" and morsel["max-age"] == "0"
        raw = resp.headers["Set-Cookie"]
        assert "Partitioned" in raw and "SameSite=None" in raw and "Secure" in raw
        return Answer(resp.status, body["error"]["code"])


async def test_absolute_lifetime_ends_renewal(
    make_sidecar: SidecarFactory, client: aiohttp.ClientSession
) -> None:
    sc = await make_sidecar(session_ttl_seconds=2, session_max_lifetime_seconds=3)
    # Cookie times are whole seconds (JWT exp is floored), so a launch late in a second would
    # end the session up to 1 s before launch + 3 s: start just after a second begins.
    await asyncio.sleep(math.ceil(time.time()) - time.time() + 0.05)
    started = time.time()
    cookie = await sc.launch(client)
    client.cookie_jar.clear()
    await asyncio.sleep(started + 1.3 - time.time())  # past half of the 2 s TTL
    renewal = (await get(client, sc, cookie)).renewal
    assert renewal is not None
    # Renewed only up to the session's end (launch + 3 s), not for another full TTL.
    assert int(renewal["max-age"]) <= 2
    renewed = renewal.value
    await asyncio.sleep(started + 2.4 - time.time())
    assert await get(client, sc, renewed) == Answer(200)  # nothing left to extend: no renewal
    await asyncio.sleep(started + 3.2 - time.time())
    assert await get(client, sc, renewed) == Answer(401, "session_expired")


async def test_heartbeat_reply_revokes_earlier_sessions(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    old = await sidecar.launch(client)
    client.cookie_jar.clear()
    host = sidecar.url.removeprefix("http://")
    ws = await client.ws_connect(
        sidecar.ws_url(), headers=sidecar.cookie_headers(old, Origin=f"http://{host}")
    )
    await ws.send_str("open")
    assert await ws.receive_str(timeout=5) == "open"
    await wait_for(lambda: len(sidecar.sink.delivered) == 1)  # the launch's heartbeat

    # A reply naming a time before the session changes nothing.
    sidecar.sink.statuses = [200, 200]
    sidecar.sink.reply = {"sessions_valid_after": time.time() - 3600}
    async with client.post(f"{sidecar.url}/__coditect/activity", headers=sidecar.bearer()) as r:
        assert r.status == 204
    await wait_for(lambda: len(sidecar.sink.delivered) == 2, within=5)
    assert await get(client, sidecar, old) == Answer(200)

    # The user signed out everywhere: sessions that began before now are refused and cleared,
    # and the socket the old session opened is closed (1008).
    sidecar.sink.reply = {"sessions_valid_after": time.time()}
    async with client.post(f"{sidecar.url}/__coditect/activity", headers=sidecar.bearer()) as r:
        assert r.status == 204
    await wait_for(lambda: len(sidecar.sink.delivered) == 3, within=5)
    assert await get(client, sidecar, old) == Answer(401, "session_revoked")
    message = await ws.receive(timeout=5)
    assert message.type == aiohttp.WSMsgType.CLOSE and message.data == 1008
    await ws.close()
    # A new launch starts a new session, which works.
    fresh = await sidecar.launch(client)
    client.cookie_jar.clear()
    assert await get(client, sidecar, fresh) == Answer(200)


async def test_429_is_retried_with_the_latest_activity(
    make_sidecar: SidecarFactory, client: aiohttp.ClientSession
) -> None:
    sc = await make_sidecar(activity_retry_base_seconds=0.4)
    sc.sink.statuses = [429]
    async with client.post(f"{sc.url}/__coditect/activity", headers=sc.bearer()) as r:
        assert r.status == 204
    await wait_for(lambda: len(sc.sink.posts) == 1)
    await asyncio.sleep(0.05)
    async with client.post(f"{sc.url}/__coditect/activity", headers=sc.bearer()) as r:
        assert r.status == 204  # more input while the heartbeat backs off
    await wait_for(lambda: len(sc.sink.delivered) == 1, within=5)
    first, second = sc.sink.posts
    assert (first["status"], second["status"]) == (429, 204)
    assert second["body"]["last_active"] > first["body"]["last_active"]
    assert second["at"] - first["at"] >= 0.2  # backed off (0.2-0.4 s with jitter)


async def test_429_waits_at_least_retry_after(
    make_sidecar: SidecarFactory, client: aiohttp.ClientSession
) -> None:
    sc = await make_sidecar(activity_retry_base_seconds=0.05, activity_interval_seconds=3)
    sc.sink.statuses = [429]
    sc.sink.retry_after = "1"
    async with client.post(f"{sc.url}/__coditect/activity", headers=sc.bearer()) as r:
        assert r.status == 204
    await wait_for(lambda: len(sc.sink.delivered) == 1, within=5)
    assert sc.sink.posts[1]["at"] - sc.sink.posts[0]["at"] >= 0.95
