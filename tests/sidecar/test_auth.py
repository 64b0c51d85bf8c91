"""The auth matrix: launch flow, session cookie, Bearer tokens, and every way to be refused."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from .conftest import SidecarFactory, SidecarUnderTest, mint

COOKIE = "__Host-coditect_ws_session"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def launch(
    client: aiohttp.ClientSession, sc: SidecarUnderTest, token: str
) -> aiohttp.ClientResponse:
    async with client.get(
        f"{sc.url}/__coditect/launch", params={"token": token}, allow_redirects=False
    ) as resp:
        await resp.read()
        return resp


async def assert_refused(resp: aiohttp.ClientResponse, code: str | None = None) -> None:
    assert resp.status == 401
    assert "Location" not in resp.headers
    # Never a session; a refused cookie is cleared (empty, Max-Age=0).
    if COOKIE in resp.cookies:
        assert resp.cookies[COOKIE].value == ""
        assert resp.cookies[COOKIE]["max-age"] == "0"
    body = await resp.json()
    assert set(body["error"]) == {"code", "message"}
    if code is not None:
        assert body["error"]["code"] == code


async def test_launch_sets_cookie_and_redirects(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    async with client.get(
        f"{sidecar.url}/__coditect/launch",
        params={"token": sidecar.launch_token()},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == "/"
        assert resp.headers["Cache-Control"] == "no-store"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        raw = resp.headers["Set-Cookie"]
        morsel = resp.cookies[COOKIE]
    assert raw.startswith("__Host-coditect_ws_session=")
    attributes = [part.strip().lower() for part in raw.split(";")]
    # Usable inside the app's cross-site iframe (None + Partitioned), readable by no script,
    # and bound to this host (__Host-: Secure, Path=/, no Domain).
    for attribute in ("httponly", "secure", "samesite=none", "partitioned", "path=/"):
        assert attribute in attributes
    assert not any(a.startswith("domain") for a in attributes)
    assert morsel["max-age"] == "900"

    # The cookie opens the IDE; the token is nowhere in the URL any more.
    async with client.get(
        f"{sidecar.url}/echo", headers={"Cookie": f"{COOKIE}={morsel.value}"}
    ) as resp:
        assert resp.status == 200
        assert "token" not in (await resp.json())["path_qs"]


async def test_launch_follows_redirect_into_ide(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    # Following the 303 lands on "/" once, with the cookie: no loop.
    cookie = await sidecar.launch(client)
    async with client.get(
        f"{sidecar.url}/echo/", headers={"Cookie": f"{COOKIE}={cookie}"}, allow_redirects=False
    ) as resp:
        assert resp.status == 200


async def test_replayed_launch_token_refused(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    token = sidecar.launch_token()
    assert (await launch(client, sidecar, token)).status == 303
    await assert_refused(await launch(client, sidecar, token), "token_replayed")


@dataclass(frozen=True)
class FromNow:
    seconds: int


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"iat": FromNow(-200), "exp": FromNow(-100)}, "token_expired"),
        ({"aud": "workspace:other"}, "invalid_token"),
        ({"aud": "coditect-api"}, "invalid_token"),
        ({"iss": "https://evil.test"}, "invalid_token"),
        ({"sub": "user-2"}, "forbidden_user"),
        ({"tid": "tenant-2"}, "forbidden_user"),
        ({"tid": None}, "forbidden_user"),
        ({"typ": "workspace"}, "invalid_token"),
        ({"typ": "access"}, "invalid_token"),
        ({"jti": None}, "invalid_token"),
        ({"exp": None}, "invalid_token"),
        ({"iat": None}, "invalid_token"),
        # Launch tokens live at most 120 s.
        ({"exp": FromNow(600)}, "invalid_token"),
        # Not valid yet (issued in the future beyond the leeway).
        ({"iat": FromNow(300), "exp": FromNow(360)}, "invalid_token"),
    ],
)
async def test_bad_launch_tokens_refused(
    sidecar: SidecarUnderTest,
    client: aiohttp.ClientSession,
    overrides: dict[str, object],
    code: str,
) -> None:
    # Times are taken when the test runs, not when it is collected (the suite runs for minutes).
    now = int(time.time())
    claims = {k: now + v.seconds if isinstance(v, FromNow) else v for k, v in overrides.items()}
    await assert_refused(await launch(client, sidecar, sidecar.launch_token(**claims)), code)


async def test_missing_launch_token(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    async with client.get(f"{sidecar.url}/__coditect/launch", allow_redirects=False) as resp:
        await assert_refused(resp, "missing_token")


async def test_alg_none_refused(sidecar: SidecarUnderTest, client: aiohttp.ClientSession) -> None:
    claims = jwt.decode(sidecar.launch_token(), options={"verify_signature": False})
    token = jwt.encode(claims, None, algorithm="none", headers={"kid": "k1"})
    await assert_refused(await launch(client, sidecar, token), "invalid_token")


async def test_hs256_with_public_key_refused(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    # The classic key-confusion attack: HMAC "signed" with the published public key.
    public_pem = sidecar.keys.current.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = jwt.decode(sidecar.launch_token(), options={"verify_signature": False})
    signing_input = (
        b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
        + "."
        + b64(json.dumps(claims).encode())
    )
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64(signature)}"
    await assert_refused(await launch(client, sidecar, token), "invalid_token")
    async with client.get(
        f"{sidecar.url}/echo", headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        await assert_refused(resp, "invalid_token")


async def test_signature_by_unpublished_key_refused(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    # Right kid, wrong key.
    token = mint(sidecar.keys.unpublished, kid="k1")
    await assert_refused(await launch(client, sidecar, token), "invalid_token")


async def test_previous_key_still_accepted(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    token = mint(sidecar.keys.previous, kid="k0")
    assert (await launch(client, sidecar, token)).status == 303


async def test_unknown_kid_refetches_once_then_refuses(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    assert (await launch(client, sidecar, sidecar.launch_token())).status == 303
    assert sidecar.jwks.fetches == 1

    token = mint(sidecar.keys.unpublished, kid="k9")
    await assert_refused(await launch(client, sidecar, token), "invalid_token")
    assert sidecar.jwks.fetches == 2  # refetched once for the unknown kid

    # Rate limit: more unknown kids within the minute do not hit the JWKS again.
    for kid in ("k9", "k10", "k11"):
        token = mint(sidecar.keys.unpublished, kid=kid)
        await assert_refused(await launch(client, sidecar, token), "invalid_token")
        async with client.get(
            f"{sidecar.url}/echo", headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            await assert_refused(resp)
    assert sidecar.jwks.fetches == 2


async def test_rotated_key_picked_up_by_refetch(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    assert (await launch(client, sidecar, sidecar.launch_token())).status == 303
    # Rotation: the platform publishes a new current key.
    sidecar.jwks.keys.append(sidecar.keys.jwk(sidecar.keys.unpublished, "k2"))
    token = mint(sidecar.keys.unpublished, kid="k2")
    assert (await launch(client, sidecar, token)).status == 303
    assert sidecar.jwks.fetches == 2


async def test_missing_credentials_http_401_ws_403(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    async with client.get(f"{sidecar.url}/echo", allow_redirects=False) as resp:
        await assert_refused(resp, "unauthenticated")
        assert resp.headers["WWW-Authenticate"] == "Bearer"
    with pytest.raises(aiohttp.WSServerHandshakeError) as excinfo:
        await client.ws_connect(sidecar.ws_url())
    assert excinfo.value.status == 403
    assert sidecar.upstream.ws_paths == []  # refused before anything reached the IDE


async def test_bearer_workspace_token_accepted(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    async with client.get(f"{sidecar.url}/echo", headers=sidecar.bearer()) as resp:
        assert resp.status == 200
    async with client.ws_connect(sidecar.ws_url(), headers=sidecar.bearer()) as ws:
        await ws.send_str("hi")
        assert await ws.receive_str() == "hi"


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "coditect-api", "typ": "access"},  # a platform API access token
        {"typ": "access"},
        {"typ": "launch"},
        {"sub": "user-2"},
        {"tid": "tenant-2"},
        {"exp": int(time.time()) - 60, "iat": int(time.time()) - 120},
        {"iss": "https://evil.test"},
    ],
)
async def test_bad_bearer_tokens_refused(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession, overrides: dict[str, object]
) -> None:
    headers = sidecar.bearer(**overrides)
    async with client.get(f"{sidecar.url}/echo", headers=headers) as resp:
        await assert_refused(resp)
    with pytest.raises(aiohttp.WSServerHandshakeError) as excinfo:
        await client.ws_connect(sidecar.ws_url(), headers=headers)
    assert excinfo.value.status == 403


async def test_cookie_websocket_from_another_origin_refused(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    # Chromium sends no Fetch metadata on a WebSocket handshake: the Origin decides.
    cookie = {"Cookie": f"{COOKIE}={await sidecar.launch(client)}"}
    client.cookie_jar.clear()  # sent explicitly below, so the Bearer case goes without it
    host = sidecar.url.removeprefix("http://")
    for origin in ("https://other-workspace.coditect.test", "null", f"http://{host}.evil.test"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as excinfo:
            await client.ws_connect(sidecar.ws_url(), headers={**cookie, "Origin": origin})
        assert excinfo.value.status == 403
    assert sidecar.upstream.ws_paths == []  # nothing reached the IDE
    registry = sidecar.state.metrics.registry
    assert registry.get_sample_value("sidecar_auth_failures_total", {"reason": "cross_site"}) == 3

    # The IDE's own page (same host, any scheme: TLS ends at the ingress) and non-browser
    # clients (no Origin) get through; so does a Bearer token, which no page can make a
    # browser send.
    for headers in (
        {**cookie, "Origin": f"http://{host}"},
        {**cookie, "Origin": f"https://{host}"},
        cookie,
        {**sidecar.bearer(), "Origin": "https://elsewhere.test"},
    ):
        async with client.ws_connect(sidecar.ws_url(), headers=headers) as ws:
            await ws.send_str("hi")
            assert await ws.receive_str(timeout=5) == "hi"
    # Plain HTTP with the cookie from another origin is refused too (SameSite=None lets the
    # browser send the cookie, so the sidecar decides).
    async with client.get(
        f"{sidecar.url}/echo", headers={**cookie, "Origin": "https://elsewhere.test"}
    ) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "forbidden_origin"


async def test_forged_or_foreign_cookie_refused(
    make_sidecar: SidecarFactory, client: aiohttp.ClientSession
) -> None:
    first = await make_sidecar()
    second = await make_sidecar()
    cookie = await first.launch(client)
    # Another sidecar (or this one after a restart) has another key.
    async with client.get(f"{second.url}/echo", headers={"Cookie": f"{COOKIE}={cookie}"}) as resp:
        await assert_refused(resp, "invalid_session")
    tampered = cookie[:-4] + ("AAAA" if not cookie.endswith("AAAA") else "BBBB")
    async with client.get(f"{first.url}/echo", headers={"Cookie": f"{COOKIE}={tampered}"}) as resp:
        await assert_refused(resp, "invalid_session")
    # A platform token is not a session cookie.
    platform = first.launch_token()
    async with client.get(f"{first.url}/echo", headers={"Cookie": f"{COOKIE}={platform}"}) as resp:
        await assert_refused(resp, "invalid_session")


async def test_session_renewed_past_half_life_and_expires(
    make_sidecar: SidecarFactory, client: aiohttp.ClientSession
) -> None:
    # iat has one-second resolution, so the timings leave a second of slack each way.
    sc = await make_sidecar(session_ttl_seconds=3)
    started = time.time()
    cookie = await sc.launch(client)
    async with client.get(f"{sc.url}/echo", headers={"Cookie": f"{COOKIE}={cookie}"}) as resp:
        assert resp.status == 200
        assert COOKIE not in resp.cookies  # fresh: no renewal yet
    await asyncio.sleep(1.6)  # past half of the 3 s lifetime
    async with client.get(f"{sc.url}/echo", headers={"Cookie": f"{COOKIE}={cookie}"}) as resp:
        assert resp.status == 200
        renewed = resp.cookies[COOKIE].value
        assert renewed != cookie
    await asyncio.sleep(started + 3.1 - time.time())
    # The original is expired now; the renewed one still works.
    async with client.get(f"{sc.url}/echo", headers={"Cookie": f"{COOKIE}={cookie}"}) as resp:
        await assert_refused(resp, "session_expired")
    async with client.get(f"{sc.url}/echo", headers={"Cookie": f"{COOKIE}={renewed}"}) as resp:
        assert resp.status == 200


async def test_session_endpoint(sidecar: SidecarUnderTest, client: aiohttp.ClientSession) -> None:
    async with client.get(f"{sidecar.url}/__coditect/session") as resp:
        await assert_refused(resp)
    cookie = await sidecar.launch(client)
    async with client.get(
        f"{sidecar.url}/__coditect/session", headers={"Cookie": f"{COOKIE}={cookie}"}
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["user_id"] == "user-1"


async def test_health_endpoints_need_no_auth(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    async with client.get(f"{sidecar.url}/healthz") as resp:
        assert resp.status == 200
    async with client.get(f"{sidecar.url}/readyz") as resp:
        assert resp.status == 200


async def test_auth_failures_counted_in_metrics(
    sidecar: SidecarUnderTest, client: aiohttp.ClientSession
) -> None:
    async with client.get(f"{sidecar.url}/echo") as resp:
        assert resp.status == 401
    token = sidecar.launch_token(aud="workspace:other")
    await launch(client, sidecar, token)
    registry = sidecar.state.metrics.registry
    assert registry.get_sample_value("sidecar_auth_failures_total", {"reason": "missing"}) == 1
    assert registry.get_sample_value("sidecar_auth_failures_total", {"reason": "audience"}) == 1
