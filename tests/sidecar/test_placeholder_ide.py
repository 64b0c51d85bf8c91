"""The placeholder IDE, served behind a real sidecar as in the local stack."""

from __future__ import annotations

import aiohttp

from sidecar.inject import SCRIPT_TAG
from sidecar.placeholder_ide import PAGE, make_app

from .conftest import SidecarFactory, start_app

COOKIE = "__Host-coditect_ws_session"


async def test_placeholder_behind_sidecar(
    make_sidecar: SidecarFactory, client: aiohttp.ClientSession
) -> None:
    runner, port = await start_app(make_app())
    try:
        sc = await make_sidecar(upstream_port=port)
        cookie = await sc.launch(client)
        headers = {"Cookie": f"{COOKIE}={cookie}"}
        navigation = {**headers, "Sec-Fetch-Dest": "document"}
        async with client.get(f"{sc.url}/", headers=navigation) as resp:
            assert resp.status == 200
            page = await resp.text()
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
