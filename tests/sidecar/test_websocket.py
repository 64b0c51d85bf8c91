"""WebSocket relay fidelity through the splice: frames, control frames, close codes, limits."""

from __future__ import annotations

import asyncio
import os

import aiohttp
from aiohttp import WSMsgType
from yarl import URL

from .conftest import SidecarFactory, SidecarUnderTest, wait_for

COOKIE = "__Host-coditect_ws_session"


async def test_text_and_binary_frames(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    cookie = await sidecar.launch(client)
    async with client.ws_connect(sidecar.ws_url(), headers={"Cookie": f"{COOKIE}={cookie}"}) as ws:
        await ws.send_str("héllo ✓")
        assert await ws.receive_str() == "héllo ✓"
        # Sizes across the 7-bit, 16-bit and 64-bit length encodings.
        for size in (0, 1, 125, 126, 65535, 65536, 3 * 1024 * 1024 + 1):
            payload = os.urandom(size)
            await ws.send_bytes(payload)
            assert await ws.receive_bytes(timeout=5) == payload
        # Many small frames in flight at once (they coalesce into few TCP reads).
        for i in range(200):
            await ws.send_str(f"m{i}")
        for i in range(200):
            assert await ws.receive_str() == f"m{i}"


def masked_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    assert len(payload) < 126
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes(((0x80 if fin else 0) | opcode, 0x80 | len(payload))) + mask + body


def raw_transport(ws: aiohttp.ClientWebSocketResponse) -> asyncio.Transport:
    connection = ws._response.connection
    assert connection is not None and connection.transport is not None
    return connection.transport  # type: ignore[return-value]


async def test_fragmented_message_and_split_writes(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    # aiohttp's client never fragments, so write frames by hand on its connection.
    async with client.ws_connect(sidecar.ws_url(), headers=sidecar.bearer()) as ws:
        transport = raw_transport(ws)
        transport.write(masked_frame(0x1, b"hel", fin=False))
        transport.write(masked_frame(0x9, b"interleaved ping"))  # control frames may interleave
        transport.write(masked_frame(0x0, b"lo", fin=True))
        assert await ws.receive_str(timeout=5) == "hello"
        # One frame dribbled a byte at a time: the header scan must cope with any split.
        frame = masked_frame(0x1, b"split")
        for i in range(len(frame)):
            transport.write(frame[i : i + 1])
            await asyncio.sleep(0.002)
        assert await ws.receive_str(timeout=5) == "split"


async def test_ping_pong_both_ways(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    async with client.ws_connect(sidecar.ws_url(), headers=sidecar.bearer(), autoping=False) as ws:
        await ws.ping(b"client-ping")
        msg = await ws.receive(timeout=5)
        assert msg.type == WSMsgType.PONG
        assert msg.data == b"client-ping"
        await ws.send_str("push:1")  # upstream pings, then pushes
        msg = await ws.receive(timeout=5)
        assert msg.type == WSMsgType.PING
        assert msg.data == b"p"
        await ws.pong(b"p")
        assert await ws.receive_str() == "push 0"


async def test_ping_pong_payloads_reach_the_upstream(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    # The upstream records control frames itself: the client's ping and its pong to the
    # upstream's ping both arrive there with their payloads.
    async with client.ws_connect(
        sidecar.ws_url("/wsraw"), headers=sidecar.bearer(), autoping=False
    ) as ws:
        await ws.ping(b"from-client")
        msg = await ws.receive(timeout=5)
        assert (msg.type, msg.data) == (WSMsgType.PONG, b"from-client")
        await ws.send_str("ping-me")
        msg = await ws.receive(timeout=5)
        assert (msg.type, msg.data) == (WSMsgType.PING, b"from-upstream")
        await ws.pong(b"from-upstream")
        await wait_for(lambda: len(sidecar.upstream.ws_control) == 2)
    assert sidecar.upstream.ws_control == [("ping", b"from-client"), ("pong", b"from-upstream")]


async def test_client_close_code_reaches_upstream(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    ws = await client.ws_connect(sidecar.ws_url(), headers=sidecar.bearer())
    await ws.close(code=4001, message=b"bye")
    assert ws.close_code == 4001  # the upstream echoed our code back
    await wait_for(lambda: sidecar.upstream.ws_closes == [4001])
    await wait_for(lambda: sidecar.state.active_connections == 0)


async def test_upstream_close_code_reaches_client(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    async with client.ws_connect(sidecar.ws_url(), headers=sidecar.bearer()) as ws:
        await ws.send_str("close:4002")
        msg = await ws.receive(timeout=5)
        assert msg.type == WSMsgType.CLOSE
        assert msg.data == 4002
        assert msg.extra == "bye"
    await wait_for(lambda: sidecar.state.active_connections == 0)


async def test_handshake_details(sidecar: SidecarUnderTest, client: aiohttp.ClientSession) -> None:
    cookie = await sidecar.launch(client)
    async with client.ws_connect(
        URL(sidecar.ws_url("/ws?token=abc&x=%2F"), encoded=True),
        headers={"Cookie": f"a=1; {COOKIE}={cookie}", "X-Custom": "kept"},
        protocols=("theia",),
        compress=15,
    ) as ws:
        assert ws.protocol == "theia"  # subprotocol negotiated through the relay
        assert ws.compress == 0  # permessage-deflate is not negotiated
        await ws.send_str("ok")
        assert await ws.receive_str() == "ok"
    assert sidecar.upstream.ws_paths == ["/ws?token=abc&x=%2F"]
    seen = {k.lower(): v for k, v in sidecar.upstream.ws_headers[0].items()}
    assert seen["cookie"] == "a=1"
    assert seen["x-custom"] == "kept"
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert "sec-websocket-extensions" not in seen
    assert "authorization" not in seen


async def test_bearer_not_forwarded_on_websocket(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    async with client.ws_connect(sidecar.ws_url(), headers=sidecar.bearer()) as ws:
        await ws.send_str("ok")
        await ws.receive_str()
    assert "Authorization" not in sidecar.upstream.ws_headers[0]


async def test_upstream_refuses_upgrade(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    try:
        await client.ws_connect(sidecar.ws_url("/nows"), headers=sidecar.bearer())
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 404
    else:
        raise AssertionError("upgrade should have failed")


async def test_message_size_limit(
    make_sidecar: SidecarFactory, client: aiohttp.ClientSession
) -> None:
    sc = await make_sidecar(max_ws_message_bytes=64 * 1024)
    async with client.ws_connect(sc.ws_url(), headers=sc.bearer()) as ws:
        await ws.send_bytes(b"a" * 64 * 1024)  # at the limit: fine
        assert len(await ws.receive_bytes(timeout=5)) == 64 * 1024
        await ws.send_bytes(b"b" * (64 * 1024 + 1))
        msg = await ws.receive(timeout=5)
        assert msg.type == WSMsgType.CLOSE
        assert msg.data == 1009
    await wait_for(lambda: sc.state.active_connections == 0)
    assert sc.upstream.ws_received.count(WSMsgType.BINARY) == 1  # the big one never arrived


async def test_client_disconnect_closes_upstream(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    async with client.ws_connect(sidecar.ws_url(), headers=sidecar.bearer()) as ws:
        await ws.send_str("ok")
        await ws.receive_str()
        assert sidecar.upstream.ws_open == 1
        raw_transport(ws).abort()  # drop TCP without a close frame
    await wait_for(lambda: sidecar.state.active_connections == 0)
    await wait_for(lambda: sidecar.upstream.ws_open == 0)


async def test_many_connections(sidecar: SidecarUnderTest) -> None:
    # More than aiohttp's default pool of 100 per host: all must work.
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        sockets = await asyncio.gather(
            *(session.ws_connect(sidecar.ws_url(), headers=sidecar.bearer()) for _ in range(150))
        )
        assert sidecar.state.metrics.stats.active_ws == 150
        for i, ws in enumerate(sockets):
            await ws.send_str(str(i))
        for i, ws in enumerate(sockets):
            assert await ws.receive_str() == str(i)
        await asyncio.gather(*(ws.close() for ws in sockets))
    await wait_for(lambda: sidecar.state.active_connections == 0)


async def test_frames_sent_with_the_upgrade_request_are_relayed(
    sidecar: SidecarUnderTest,
) -> None:
    # A client may send frames right behind its upgrade request, without waiting for the 101:
    # aiohttp has then read them already, into RequestHandler._message_tail (private), which
    # the proxy hands to the splice. If aiohttp renames or drops it, this fails loudly here
    # (and the proxy raises) instead of those frames vanishing.
    from aiohttp.web_protocol import RequestHandler

    assert "_message_tail" in RequestHandler.__slots__
    host = sidecar.url.removeprefix("http://")
    token = sidecar.bearer()["Authorization"]
    request = (
        f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: {token}\r\n\r\n"
    ).encode()
    frames = masked_frame(0x1, b"early one") + masked_frame(0x1, b"early two")
    reader, writer = await asyncio.open_connection("127.0.0.1", URL(sidecar.url).port)
    try:
        writer.write(request + frames)  # one write: both land in aiohttp's first read
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101")
        received = b""
        want = b"\x81\x09early one\x81\x09early two"
        while len(received) < len(want):
            chunk = await asyncio.wait_for(reader.read(1024), 5)
            assert chunk, f"connection closed after {received!r}"
            received += chunk
        assert received == want  # the upstream echoed both, unmasked
    finally:
        writer.close()
