"""The placeholder IDE, served behind a real sidecar as in the local stack."""

from __future__ import annotations

import aiohttp
import pytest

from sidecar.inject import SCRIPT_TAG
from sidecar.placeholder_ide import PAGE, TOKEN_COOKIE, make_app

from .conftest import SidecarFactory, start_app

COOKIE = "__Host-coditect_ws_session"


async def test_placeholder_behind_sidecar(
    make_sidecar: SidecarFactory, client: aiohttp.ClientSession
) -> None:
    runner, port = await start_app(make_app())
    try:
        sc = await make_sidecar(upstream_port=port)
        cookie = await sc.launch(client)
        client.cookie_jar.clear()
        navigation = {"Cookie": f"{COOKIE}={cookie}", "Sec-Fetch-Dest": "document"}
        async with client.get(f"{sc.url}/", headers=navigation) as resp:
            assert resp.status == 200
            page = await resp.text()
            token = resp.cookies[TOKEN_COOKIE].value
        # Both cookies, as the browser sends them from the page; Origin is the page's.
        host = sc.url.removeprefix("http://")
        headers = {
            "Cookie": f"{COOKIE}={cookie}; {TOKEN_COOKIE}={token}",
            "Origin": f"http://{host}",
        }
        assert "<title>Coditect workspace</title>" in page
        assert "new WebSocket" in page
        # Like Theia, the placeholder knows nothing of Coditect; the sidecar adds the beacon.
        assert "__coditect" not in PAGE
        assert page.count(SCRIPT_TAG.decode()) == 1
        assert page.index(SCRIPT_TAG.decode()) < page.index("</head>")
        async with client.ws_connect(sc.ws_url("/ws"), headers=headers) as ws:
            await ws.send_str("hello")
            assert await ws.receive_str(timeout=5) == "hello"
            await ws.send_bytes(b"\x00\xff")
            assert await ws.receive_bytes(timeout=5) == b"\x00\xff"
        ws = await client.ws_connect(sc.ws_url("/ws"), headers=headers)
        await ws.close(code=4003)
        assert ws.close_code == 4003
    finally:
        await runner.cleanup()


async def test_theia_connection_token_works_framed(
    make_sidecar: SidecarFactory, client: aiohttp.ClientSession
) -> None:
    # Theia's rules (as the placeholder applies them): its SameSite=Strict token cookie on the
    # socket, and an Origin whose host is Host. Inside the app's iframe a Strict cookie is
    # never sent, so the sidecar hands it out as SameSite=None; Secure; Partitioned.
    runner, port = await start_app(make_app())
    try:
        sc = await make_sidecar(upstream_port=port)
        cookie = await sc.launch(client)
        client.cookie_jar.clear()
        framed = {
            "Cookie": f"{COOKIE}={cookie}",
            "Sec-Fetch-Site": "cross-site",  # the app's page loads the IDE into its iframe
            "Sec-Fetch-Mode": "navigate",
            "Sec-Fetch-Dest": "iframe",
        }
        async with client.get(f"{sc.url}/", headers=framed) as resp:
            assert resp.status == 200
            raw = next(v for v in resp.headers.getall("Set-Cookie") if TOKEN_COOKIE in v)
            token = resp.cookies[TOKEN_COOKIE].value
        attributes = {a.strip().lower() for a in raw.split(";")[1:]}
        assert attributes == {"httponly", "path=/", "secure", "samesite=none", "partitioned"}

        host = sc.url.removeprefix("http://")
        both = f"{COOKIE}={cookie}; {TOKEN_COOKIE}={token}"
        # The framed page's socket: same origin as the IDE, both cookies.
        async with client.ws_connect(
            sc.ws_url("/ws"), headers={"Cookie": both, "Origin": f"http://{host}"}
        ) as ws:
            await ws.send_str("framed")
            assert await ws.receive_str(timeout=5) == "framed"
        # Without Theia's token the IDE itself refuses, and the sidecar passes that on.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(
                sc.ws_url("/ws"),
                headers={"Cookie": f"{COOKIE}={cookie}", "Origin": f"http://{host}"},
            )
        assert refused.value.status == 403
    finally:
        await runner.cleanup()
