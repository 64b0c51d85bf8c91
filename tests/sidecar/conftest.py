"""Real servers for the sidecar tests: upstream IDE, JWKS, activity receiver, and the sidecar.

Everything listens on 127.0.0.1 with an ephemeral port and is driven with aiohttp clients over
real sockets; nothing is patched.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import jwt
import pytest
import uvloop
from aiohttp import WSMsgType, web
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from sidecar.app import SIDECAR, Sidecar, create_app, runner_kwargs
from sidecar.config import Config

ISSUER = "https://coditect.test"
WORKSPACE = "ws-123"
USER = "user-1"
TENANT = "tenant-1"
ACTIVITY_TOKEN = "activity-secret-token"


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    # The WebSocket relay takes over raw transports, and uvloop's differ from asyncio's (the
    # sidecar runs on uvloop in production): run those tests on both loops.
    if item.module is not None and item.module.__name__.endswith("test_websocket"):
        return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}


async def start_app(app: web.Application, **kwargs: Any) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, **kwargs)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


async def wait_for(predicate: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


# -- keys and tokens ------------------------------------------------------------------------


@dataclass
class Keys:
    current: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    previous: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    unpublished: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def jwk(self, key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
        jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
        jwk.update({"kid": kid, "alg": "ES256", "use": "sig"})
        return jwk


def mint(
    key: ec.EllipticCurvePrivateKey, kid: str = "k1", typ: str = "launch", **overrides: Any
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": f"workspace:{WORKSPACE}",
        "sub": USER,
        "tid": TENANT,
        "typ": typ,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})


# -- stand-in servers -------------------------------------------------------------------------


@dataclass
class Jwks:
    keys: list[dict[str, Any]]
    fetches: int = 0
    url: str = ""


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
async def jwks(keys: Keys) -> AsyncIterator[Jwks]:
    state = Jwks(keys=[keys.jwk(keys.current, "k1"), keys.jwk(keys.previous, "k0")])

    async def handler(request: web.Request) -> web.Response:
        state.fetches += 1
        return web.json_response({"keys": state.keys})

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", handler)
    runner, port = await start_app(app)
    state.url = f"http://127.0.0.1:{port}/.well-known/jwks.json"
    yield state
    await runner.cleanup()


@dataclass
class ActivitySink:
    url: str = ""
    # Statuses to answer with, in order; 204 once exhausted.
    statuses: list[int] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)
    # A 200's JSON body (e.g. sessions_valid_after), and a Retry-After for 429s.
    reply: dict[str, Any] | None = None
    retry_after: str | None = None

    @property
    def delivered(self) -> list[dict[str, Any]]:
        return [p for p in self.posts if 200 <= p["status"] < 300]


@pytest.fixture
async def activity_sink() -> AsyncIterator[ActivitySink]:
    sink = ActivitySink()

    async def handler(request: web.Request) -> web.Response:
        status = sink.statuses.pop(0) if sink.statuses else 204
        sink.posts.append(
            {
                "status": status,
                "authorization": request.headers.get("Authorization"),
                "body": await request.json(),
                "at": time.monotonic(),
            }
        )
        if status == 200 and sink.reply is not None:
            return web.json_response(sink.reply)
        if status == 429 and sink.retry_after is not None:
            return web.Response(status=status, headers={"Retry-After": sink.retry_after})
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/activity", handler)
    runner, port = await start_app(app)
    sink.url = f"http://127.0.0.1:{port}/activity"
    yield sink
    await runner.cleanup()


@dataclass
class Upstream:
    port: int = 0
    ws_closes: list[int | None] = field(default_factory=list)
    ws_headers: list[dict[str, str]] = field(default_factory=list)
    ws_paths: list[str] = field(default_factory=list)
    ws_received: list[Any] = field(default_factory=list)
    ws_open: int = 0
    # /wsraw: control frames as the upstream saw them, e.g. ("ping", b"data").
    ws_control: list[tuple[str, bytes]] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stall: asyncio.Event = field(default_factory=asyncio.Event)
    # /page: request headers as the upstream saw them; `gate` holds back a body's last bytes.
    page_requests: list[dict[str, str]] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)


PAGES = {
    "head": b"<!doctype html><html><HEAD><title>IDE</title></HEAD><body><p>hi</p></body></html>",
    "body": b"<p>no head here</p><body>text</BODY>",
    "none": b"plain <b>text</b> without structure",
}


def page_body(kind: str = "head", size: int = 0) -> bytes:
    """The document /page serves: PAGES[kind], padded with a comment up to ``size`` bytes."""
    body = PAGES[kind]
    if size > len(body):
        pad = b"<!--" + b"x" * (size - len(body) - 7) + b"-->"
        body = body.replace(b"<p>", pad + b"<p>", 1) if b"<p>" in body else pad + body
    return body


def upstream_app(state: Upstream) -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {
                "method": request.method,
                "path_qs": request.raw_path,
                "headers": [[k, v] for k, v in request.headers.items()],
                "length": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
            },
            headers={"X-Upstream": "yes"},
        )

    async def mirror(request: web.Request) -> web.StreamResponse:
        # Answers before reading the body and echoes it chunk by chunk: streaming both ways.
        resp = web.StreamResponse()
        resp.content_type = "application/octet-stream"
        await resp.prepare(request)
        async for chunk in request.content.iter_any():
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    async def cookies(request: web.Request) -> web.Response:
        resp = web.Response(text="ok", headers={"Connection": "close, X-Secret-Hop"})
        resp.headers["X-Secret-Hop"] = "hop"
        resp.headers["Keep-Alive"] = "timeout=5"
        resp.set_cookie("theia_a", "1")
        resp.set_cookie("theia_b", "2")
        # Theia's own: what the browser would not send inside the app's iframe.
        resp.set_cookie("theia-connection-token", "t0k", httponly=True, samesite="Strict")
        # A cookie for every host under a parent domain, and an attempt to replace our session.
        resp.set_cookie("tossed", "x", domain="coditect.test")
        resp.set_cookie("__Host-coditect_ws_session", "forged", secure=True)
        return resp

    async def gzip_body(request: web.Request) -> web.Response:
        import gzip

        body = gzip.compress(b"x" * 1000)
        return web.Response(
            body=body, headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"}
        )

    async def stall(request: web.Request) -> web.Response:
        await state.stall.wait()
        return web.Response(text="late")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    async def ws(request: web.Request) -> web.StreamResponse:
        state.ws_paths.append(request.raw_path)
        state.ws_headers.append(dict(request.headers))
        sock = web.WebSocketResponse(protocols=("theia", "other"), autoclose=False, max_msg_size=0)
        await sock.prepare(request)
        state.ws_open += 1
        try:
            await ws_loop(sock)
        finally:
            state.ws_open -= 1
        return sock

    async def ws_loop(sock: web.WebSocketResponse) -> None:
        # Not `async for`: it stops at a close frame before we can see its code.
        while not sock.closed:
            msg = await sock.receive()
            state.ws_received.append(msg.type)
            if msg.type == WSMsgType.TEXT:
                if msg.data.startswith("close:"):
                    await sock.close(code=int(msg.data[6:]), message=b"bye")
                    break
                if msg.data.startswith("tick:"):
                    # Pushes and pings spread over time, while the client stays quiet.
                    async def ticks(count: int) -> None:
                        for i in range(count):
                            await asyncio.sleep(0.1)
                            await sock.ping(b"t")
                            await sock.send_str(f"tick {i}")

                    state.tasks.append(asyncio.create_task(ticks(int(msg.data[5:]))))
                    continue
                if msg.data.startswith("push:"):
                    # Server-initiated traffic: pings and pushes the user did not cause.
                    for i in range(int(msg.data[5:])):
                        await sock.ping(b"p")
                        await sock.send_str(f"push {i}")
                    continue
                await sock.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await sock.send_bytes(msg.data)
            elif msg.type == WSMsgType.CLOSE:
                state.ws_closes.append(msg.data)
                await sock.close(code=msg.data, message=b"echo")
                break
            elif msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR):
                break

    async def ws_raw(request: web.Request) -> web.StreamResponse:
        # No autoping: pings and pongs reach this handler, so the test sees what arrived.
        sock = web.WebSocketResponse(autoping=False)
        await sock.prepare(request)
        async for msg in sock:
            if msg.type == WSMsgType.PING:
                state.ws_control.append(("ping", msg.data))
                await sock.pong(msg.data)
            elif msg.type == WSMsgType.PONG:
                state.ws_control.append(("pong", msg.data))
            elif msg.type == WSMsgType.TEXT and msg.data == "ping-me":
                await sock.ping(b"from-upstream")
        return sock

    async def page(request: web.Request) -> web.StreamResponse:
        # ?kind=head|body|none &size=N &type=<content type> &chunked=1 (no Content-Length)
        # &gate=1 (the last 16 bytes wait for state.gate) &gzip=1 (compressed whatever was asked)
        state.page_requests.append(dict(request.headers))
        q = request.query
        body = page_body(q.get("kind", "head"), int(q.get("size", "0")))
        headers = {"Content-Type": q.get("type", "text/html; charset=utf-8")}
        if q.get("gzip"):
            import gzip

            body = gzip.compress(body, mtime=0)
            headers["Content-Encoding"] = "gzip"
        if not q.get("chunked") and not q.get("gate"):
            return web.Response(body=body, headers=headers)
        resp = web.StreamResponse(headers=headers)
        if not q.get("chunked"):
            resp.content_length = len(body)
        await resp.prepare(request)
        cut = len(body) - 16 if q.get("gate") else len(body)
        for i in range(0, cut, 16384):
            await resp.write(body[i : min(i + 16384, cut)])
        if q.get("gate"):
            await state.gate.wait()
            await resp.write(body[cut:])
        await resp.write_eof()
        return resp

    async def refuse_ws(request: web.Request) -> web.Response:
        return web.Response(status=404, text="no such socket")

    app = web.Application(client_max_size=64 * 1024**2)
    app.router.add_route("*", "/echo{tail:.*}", echo)
    app.router.add_post("/mirror", mirror)
    app.router.add_get("/cookies", cookies)
    app.router.add_get("/gzip", gzip_body)
    app.router.add_get("/stall", stall)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/ws", ws)
    app.router.add_get("/wsraw", ws_raw)
    app.router.add_get("/nows", refuse_ws)
    app.router.add_route("*", "/page", page)
    return app


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    state = Upstream()
    runner, state.port = await start_app(upstream_app(state), shutdown_timeout=0.1)
    yield state
    state.stall.set()
    state.gate.set()
    await runner.cleanup()


# -- the sidecar ----------------------------------------------------------------------------


@dataclass
class SidecarUnderTest:
    url: str
    app: web.Application
    keys: Keys
    jwks: Jwks
    sink: ActivitySink
    upstream: Upstream

    @property
    def state(self) -> Sidecar:
        return self.app[SIDECAR]

    def launch_token(self, **overrides: Any) -> str:
        return mint(self.keys.current, **overrides)

    def bearer(self, **overrides: Any) -> dict[str, str]:
        overrides.setdefault("typ", "workspace")
        token = mint(self.keys.current, **overrides)
        return {"Authorization": f"Bearer {token}"}

    def ws_url(self, path: str = "/ws") -> str:
        return self.url.replace("http://", "ws://") + path

    def cookie_headers(self, cookie: str, **extra: str) -> dict[str, str]:
        return {"Cookie": f"{self.state.config.cookie_name}={cookie}", **extra}

    async def launch(self, session: aiohttp.ClientSession) -> str:
        """Run the launch flow; return the session cookie value."""
        async with session.get(
            f"{self.url}/__coditect/launch",
            params={"token": self.launch_token()},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303, await resp.text()
            return resp.cookies[self.state.config.cookie_name].value


def make_config(jwks: Jwks, sink: ActivitySink, upstream_port: int, **overrides: Any) -> Config:
    cfg = Config(
        workspace_id=WORKSPACE,
        user_id=USER,
        tenant_id=TENANT,
        jwks_url=jwks.url,
        token_issuer=ISSUER,
        activity_url=sink.url,
        activity_token=ACTIVITY_TOKEN,
        upstream_url=f"http://127.0.0.1:{upstream_port}",
        listen_host="127.0.0.1",
        activity_interval_seconds=0.5,
        activity_retry_base_seconds=0.05,
        upstream_connect_timeout_seconds=1.0,
        upstream_read_timeout_seconds=1.0,
    )
    return replace(cfg, **overrides)


SidecarFactory = Callable[..., Awaitable[SidecarUnderTest]]


@pytest.fixture
async def make_sidecar(
    keys: Keys, jwks: Jwks, activity_sink: ActivitySink, upstream: Upstream
) -> AsyncIterator[SidecarFactory]:
    runners: list[web.AppRunner] = []

    async def factory(**overrides: Any) -> SidecarUnderTest:
        upstream_port = overrides.pop("upstream_port", upstream.port)
        app = create_app(make_config(jwks, activity_sink, upstream_port, **overrides))
        runner, port = await start_app(app, **runner_kwargs())
        runners.append(runner)
        return SidecarUnderTest(
            f"http://127.0.0.1:{port}", app, keys, jwks, activity_sink, upstream
        )

    yield factory
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def sidecar(make_sidecar: SidecarFactory) -> SidecarUnderTest:
    return await make_sidecar()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    # Unsafe cookie jar: the sidecar is on an IP address, which the default jar won't store for.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session
