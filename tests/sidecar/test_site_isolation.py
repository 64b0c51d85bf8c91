"""The workspace host is its own site: what a cookie-authenticated request from elsewhere gets.

The cookie is ``SameSite=None; Partitioned`` (it must work inside the app's iframe), so the
browser sends it along with cross-site requests and the sidecar refuses them itself, using
Fetch metadata (``Sec-Fetch-Site``, ``Sec-Fetch-Mode``) or, without it, ``Origin``.
"""

from __future__ import annotations

import aiohttp
import pytest

from .conftest import SidecarFactory, SidecarUnderTest

COOKIE = "__Host-coditect_ws_session"
APP = "https://app.coditect.test"

CROSS = {"Sec-Fetch-Site": "cross-site"}
SAME_SITE = {"Sec-Fetch-Site": "same-site"}  # a sibling workspace host under the same domain
NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}


@pytest.mark.parametrize(
    ("method", "headers", "allowed"),
    [
        # The app's iframe loading the IDE, or a link: a cross-site GET/HEAD navigation.
        ("GET", {**CROSS, **NAVIGATE}, True),
        ("HEAD", {**CROSS, "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}, True),
        # The IDE's own pages, and a typed address or bookmark.
        ("POST", {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}, True),
        ("PUT", {"Sec-Fetch-Site": "same-origin"}, True),
        ("POST", {"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"}, True),
        # No Fetch metadata: Origin, when present, must be this host; absent, not a browser.
        ("POST", {}, True),
        ("POST", {"Origin": "{self}"}, True),
        # Refused: another site's form POST (even as a top-level navigation), fetch, image...
        ("POST", {**CROSS, "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}, False),
        ("GET", {**CROSS, "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}, False),
        ("GET", {**CROSS, "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}, False),
        ("DELETE", {**CROSS, "Sec-Fetch-Mode": "cors"}, False),
        ("GET", {**SAME_SITE, "Sec-Fetch-Mode": "cors"}, False),
        ("POST", {**SAME_SITE, "Sec-Fetch-Mode": "navigate"}, False),
        ("POST", {"Origin": "https://evil.test"}, False),
        ("GET", {"Origin": "null"}, False),
    ],
)
async def test_cookie_requests_from_another_site_refused(
    sidecar: SidecarUnderTest,
    client: aiohttp.ClientSession,
    method: str,
    headers: dict[str, str],
    allowed: bool,
) -> None:
    cookie = await sidecar.launch(client)
    client.cookie_jar.clear()
    host = sidecar.url.removeprefix("http://")
    headers = {k: v.replace("{self}", f"http://{host}") for k, v in headers.items()}
    async with client.request(
        method, f"{sidecar.url}/echo", headers={**sidecar.cookie_headers(cookie), **headers}
    ) as resp:
        if allowed:
            assert resp.status == 200
            return
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "forbidden_origin"
    registry = sidecar.state.metrics.registry
    assert registry.get_sample_value("sidecar_auth_failures_total", {"reason": "cross_site"}) == 1


async def test_our_own_routes_are_guarded_too(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    cookie = await sidecar.launch(client)
    client.cookie_jar.clear()
    cross = sidecar.cookie_headers(cookie, **CROSS, **{"Sec-Fetch-Mode": "no-cors"})
    for method, path in (
        ("POST", "/__coditect/activity"),  # another site keeping the workspace alive
        ("GET", "/__coditect/session"),
        ("GET", "/__coditect/activity.js"),
    ):
        async with client.request(method, sidecar.url + path, headers=cross) as resp:
            assert resp.status == 403, path
    assert sidecar.state.activity.last_active is not None  # the launch only
    registry = sidecar.state.metrics.registry
    assert registry.get_sample_value("sidecar_activity_signals_total", {"source": "input"}) is None


async def test_cross_site_websocket_refused(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    cookie = sidecar.cookie_headers(await sidecar.launch(client))
    client.cookie_jar.clear()
    host = sidecar.url.removeprefix("http://")
    for headers in (
        {**cookie, **CROSS, "Origin": f"http://{host}"},  # metadata says another site
        {**cookie, "Sec-Fetch-Site": "same-origin", "Origin": "https://evil.test"},
        {**cookie, "Origin": "https://evil.test"},
    ):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(sidecar.ws_url(), headers=headers)
        assert refused.value.status == 403
    assert sidecar.upstream.ws_paths == []
    async with client.ws_connect(
        sidecar.ws_url(), headers={**cookie, "Origin": f"http://{host}"}
    ) as ws:
        await ws.send_str("mine")
        assert await ws.receive_str(timeout=5) == "mine"


async def test_bearer_requests_are_not_subject_to_it(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    # No page can make a browser send an Authorization header to another site without CORS,
    # which the sidecar does not grant (its preflight carries no credentials: 401).
    headers = {**sidecar.bearer(), **CROSS, "Origin": "https://tool.test"}
    async with client.post(f"{sidecar.url}/echo", headers=headers) as resp:
        assert resp.status == 200
    async with client.options(
        f"{sidecar.url}/echo",
        headers={**CROSS, "Origin": "https://evil.test", "Access-Control-Request-Method": "PUT"},
    ) as resp:
        assert resp.status == 401
        assert "Access-Control-Allow-Origin" not in resp.headers


async def test_frame_ancestors_names_only_the_app(
    make_sidecar: SidecarFactory, client: aiohttp.ClientSession
) -> None:
    sc = await make_sidecar(app_origin=APP)
    expected = f"frame-ancestors 'self' {APP}"
    async with client.get(f"{sc.url}/page", headers=sc.bearer()) as resp:
        # Added beside the IDE's own policy, if any: a browser enforces both.
        assert resp.headers.getall("Content-Security-Policy") == [expected]
    async with client.get(f"{sc.url}/__coditect/session") as resp:
        assert resp.status == 401
        assert resp.headers["Content-Security-Policy"] == expected
    async with client.get(f"{sc.url}/__coditect/launch", params={"token": sc.launch_token()}) as r:
        assert r.headers["Content-Security-Policy"] == expected


async def test_frame_ancestors_defaults_to_the_platform_origin(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    # The platform serves its JWKS on its public origin, which is the app's.
    jwks_origin = sidecar.jwks.url.removesuffix("/.well-known/jwks.json")
    async with client.get(f"{sidecar.url}/page", headers=sidecar.bearer()) as resp:
        assert resp.headers["Content-Security-Policy"] == f"frame-ancestors 'self' {jwks_origin}"
