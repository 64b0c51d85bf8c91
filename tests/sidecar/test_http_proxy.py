"""HTTP proxy fidelity: streaming bodies, methods, query strings, headers, errors, limits."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from .conftest import SidecarFactory, SidecarUnderTest, wait_for

COOKIE = "__Host-coditect_ws_session"
CHUNK = 256 * 1024
TOTAL = 20 * 1024 * 1024


async def test_20mb_streamed_both_ways(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    """Lock-step first: each chunk must come back before the next is sent, which only works if
    neither direction is buffered whole. Then the rest of 20 MB in bulk, checksummed."""
    data = os.urandom(CHUNK)
    sent = hashlib.sha256()
    echoed: asyncio.Queue[None] = asyncio.Queue()

    async def body() -> AsyncIterator[bytes]:
        for i in range(TOTAL // CHUNK):
            chunk = data[i % 7 :] + data[: i % 7]  # vary the content a little
            sent.update(chunk)
            yield chunk
            if i < 3:
                await asyncio.wait_for(echoed.get(), timeout=5)

    received = hashlib.sha256()
    size = 0
    async with client.post(f"{sidecar.url}/mirror", data=body(), headers=sidecar.bearer()) as resp:
        assert resp.status == 200
        async for chunk in resp.content.iter_any():
            before = size // CHUNK
            size += len(chunk)
            received.update(chunk)
            if size // CHUNK > before and size <= 3 * CHUNK:
                echoed.put_nowait(None)
    assert size == TOTAL
    assert received.hexdigest() == sent.hexdigest()


async def test_fixed_length_body_checksum(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)
    async with client.put(
        f"{sidecar.url}/echo/blob", data=payload, headers=sidecar.bearer()
    ) as resp:
        body = await resp.json()
    assert body["method"] == "PUT"
    assert body["length"] == len(payload)
    assert body["sha256"] == hashlib.sha256(payload).hexdigest()
    assert ["Content-Length", str(len(payload))] in body["headers"]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"])
async def test_methods(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession, method: str
) -> None:
    async with client.request(
        method, f"{sidecar.url}/echo/m", data=b"abc", headers=sidecar.bearer()
    ) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["method"] == method
    assert body["length"] == 3


async def test_head(sidecar: SidecarUnderTest, client: aiohttp.ClientSession) -> None:
    async with client.head(f"{sidecar.url}/echo/h", headers=sidecar.bearer()) as resp:
        assert resp.status == 200
        assert await resp.read() == b""


async def test_query_string_and_path_kept_verbatim(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    target = "/echo/a%20b/%2Fc?x=1&y=%2F%3F&z=a+b&empty=&flag"
    async with client.get(
        aiohttp.client.URL(sidecar.url + target, encoded=True), headers=sidecar.bearer()
    ) as resp:
        assert (await resp.json())["path_qs"] == target


async def test_request_headers_stripped_and_forwarded(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    cookie = await sidecar.launch(client)
    headers = {
        "Cookie": f"theme=dark; {COOKIE}={cookie}; other=1",
        "Authorization": "Bearer something-for-the-ide",
        "Connection": "keep-alive, X-Drop-Me",
        "X-Drop-Me": "hop",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Proxy-Authorization": "Basic abc",
        "X-Custom": "kept",
        "X-Forwarded-For": "10.0.0.1",
        "Accept-Encoding": "gzip",
    }
    async with client.get(f"{sidecar.url}/echo", headers=headers) as resp:
        assert resp.status == 200  # the cookie authenticated; Authorization is not ours
        seen = {k.lower(): v for k, v in (await resp.json())["headers"]}
    assert seen["cookie"] == "theme=dark; other=1"
    assert "authorization" not in seen
    for hop in ("x-drop-me", "keep-alive", "te", "proxy-authorization"):
        assert hop not in seen
    assert seen.get("connection", "keep-alive") == "keep-alive"  # aiohttp's own, not the client's
    assert seen["x-custom"] == "kept"
    assert seen["accept-encoding"] == "gzip"
    assert seen["x-forwarded-for"] == "10.0.0.1, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == sidecar.url.removeprefix("http://")
    assert seen["host"] == sidecar.url.removeprefix("http://")


async def test_only_our_cookie_dropped(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    cookie = await sidecar.launch(client)
    async with client.get(f"{sidecar.url}/echo", headers={"Cookie": f"{COOKIE}={cookie}"}) as resp:
        seen = {k.lower() for k, _ in (await resp.json())["headers"]}
    assert "cookie" not in seen  # nothing left after removing ours


async def test_response_headers(sidecar: SidecarUnderTest, client: aiohttp.ClientSession) -> None:
    async with client.get(f"{sidecar.url}/cookies", headers=sidecar.bearer()) as resp:
        assert resp.status == 200
        # The IDE's cookies work in the app's iframe (None, Partitioned); one for other hosts
        # (Domain) and one naming our session cookie never reach the browser.
        assert sorted(resp.headers.getall("Set-Cookie")) == [
            "theia-connection-token=t0k; HttpOnly; Path=/; Secure; SameSite=None; Partitioned",
            "theia_a=1; Path=/; Secure; SameSite=None; Partitioned",
            "theia_b=2; Path=/; Secure; SameSite=None; Partitioned",
        ]
        assert "X-Secret-Hop" not in resp.headers
        assert "Keep-Alive" not in resp.headers


async def test_compressed_body_passes_untouched(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    async with client.get(
        f"{sidecar.url}/gzip", headers=sidecar.bearer(), auto_decompress=False
    ) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        raw = await resp.read()
    import gzip

    assert gzip.decompress(raw) == b"x" * 1000


async def test_upstream_redirect_not_followed(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    async with client.get(
        f"{sidecar.url}/redirect", headers=sidecar.bearer(), allow_redirects=False
    ) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == "/elsewhere"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_upstream_down_502(
    make_sidecar: SidecarFactory, client: aiohttp.ClientSession
) -> None:
    sc = await make_sidecar(upstream_port=_closed_port())
    async with client.get(f"{sc.url}/echo", headers=sc.bearer()) as resp:
        assert resp.status == 502
        error = (await resp.json())["error"]
    assert error["code"] == "upstream_unavailable"
    assert "not reachable" in error["message"]
    with pytest.raises(aiohttp.WSServerHandshakeError) as excinfo:
        await client.ws_connect(sc.ws_url(), headers=sc.bearer())
    assert excinfo.value.status == 502
    async with client.get(f"{sc.url}/readyz") as resp:
        assert resp.status == 503
    async with client.get(f"{sc.url}/healthz") as resp:
        assert resp.status == 200
    registry = sc.state.metrics.registry
    assert registry.get_sample_value("sidecar_upstream_errors_total", {"kind": "connect"}) == 2


async def test_stalled_upstream_times_out(
    make_sidecar: SidecarFactory, client: aiohttp.ClientSession
) -> None:
    sc = await make_sidecar(upstream_read_timeout_seconds=0.3)
    started = time.monotonic()
    async with client.get(f"{sc.url}/stall", headers=sc.bearer()) as resp:
        assert resp.status == 504
        assert (await resp.json())["error"]["code"] == "upstream_timeout"
    assert time.monotonic() - started < 2


async def test_stalled_websocket_handshake_times_out(
    make_sidecar: SidecarFactory, client: aiohttp.ClientSession
) -> None:
    # A listener that accepts and never answers.
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        sc = await make_sidecar(upstream_port=port, upstream_read_timeout_seconds=0.3)
        with pytest.raises(aiohttp.WSServerHandshakeError) as excinfo:
            await client.ws_connect(sc.ws_url(), headers=sc.bearer())
        assert excinfo.value.status == 504
    finally:
        server.close()


async def test_connection_limit(
    make_sidecar: SidecarFactory, client: aiohttp.ClientSession
) -> None:
    sc = await make_sidecar(max_connections=2)
    async with (
        client.ws_connect(sc.ws_url(), headers=sc.bearer()),
        client.ws_connect(sc.ws_url(), headers=sc.bearer()),
    ):
        async with client.get(f"{sc.url}/echo", headers=sc.bearer()) as resp:
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "5"
            assert (await resp.json())["error"]["code"] == "too_many_connections"
        with pytest.raises(aiohttp.WSServerHandshakeError) as excinfo:
            await client.ws_connect(sc.ws_url(), headers=sc.bearer())
        assert excinfo.value.status == 503
    # Slots are given back when the sockets close.
    await wait_for(lambda: sc.state.active_connections == 0)
    async with client.get(f"{sc.url}/echo", headers=sc.bearer()) as resp:
        assert resp.status == 200


async def test_body_limit(make_sidecar: SidecarFactory, client: aiohttp.ClientSession) -> None:
    sc = await make_sidecar(max_request_body_bytes=1000)
    async with client.post(f"{sc.url}/echo", data=b"x" * 1001, headers=sc.bearer()) as resp:
        assert resp.status == 413

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"y" * 400

    async with client.post(f"{sc.url}/echo", data=chunked(), headers=sc.bearer()) as resp:
        assert resp.status == 413
    async with client.post(f"{sc.url}/echo", data=b"x" * 1000, headers=sc.bearer()) as resp:
        assert resp.status == 200


async def test_metrics_endpoint(sidecar: SidecarUnderTest, client: aiohttp.ClientSession) -> None:
    from .conftest import start_app

    async with client.get(f"{sidecar.url}/echo", data=b"12345", headers=sidecar.bearer()) as resp:
        await resp.read()
    runner, port = await start_app(sidecar.state.metrics.app())
    try:
        async with client.get(f"http://127.0.0.1:{port}/metrics") as resp:
            text = await resp.text()
    finally:
        await runner.cleanup()
    assert 'sidecar_connections_total{kind="http"} 1.0' in text
    assert 'sidecar_bytes_total{direction="client_to_upstream",kind="http"} 5.0' in text
    assert 'sidecar_connections_active{kind="websocket"} 0.0' in text
    # The proxy port does not serve metrics: it is just another proxied path.
    async with client.get(f"{sidecar.url}/metrics") as resp:
        assert resp.status == 401
