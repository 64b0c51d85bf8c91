"""Forwarding to the upstream IDE: HTTP streamed with aiohttp, WebSocket spliced (see wsplice).

Before forwarding we remove hop-by-hop headers (RFC 9110 7.6.1, plus any named in
``Connection``), ``Authorization``, ``Expect`` (aiohttp already answered it) and our own session
cookie; other cookies pass. ``X-Forwarded-For`` gets the peer appended, ``X-Forwarded-Proto`` and
``X-Forwarded-Host`` are set to what this hop saw. ``Host`` is kept, so the IDE's origin checks see
the browser's host (the guard only lets through upgrades whose ``Origin`` is that host, so
Theia's own Origin-vs-Host check passes for them). The IDE's ``Set-Cookie`` headers are rewritten
or dropped (cookies.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

import aiohttp
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .cookies import rewrite_upstream_cookie
from .inject import inject, injectable
from .logs import get_logger
from .state import Sidecar, error_response
from .wsplice import Splice, UpstreamHandshakeError, open_upstream

log = get_logger("sidecar.proxy")

HOP_BY_HOP: frozenset[str] = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_UPGRADE_DROP = HOP_BY_HOP | {"sec-websocket-extensions", "content-length"}
_REQUEST_DROP = HOP_BY_HOP | {
    "authorization",
    "expect",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
}


def _connection_tokens(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> set[str]:
    tokens: set[str] = set()
    for value in headers.getall("Connection", ()):
        tokens.update(t.strip().lower() for t in value.split(","))
    return tokens


def strip_cookie(value: str, name: str) -> str:
    kept = [part.strip() for part in value.split(";")]
    return "; ".join(p for p in kept if p and p.split("=", 1)[0].strip() != name)


def forward_headers(request: web.Request, cookie_name: str) -> CIMultiDict[str]:
    drop = _REQUEST_DROP | _connection_tokens(request.headers)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in request.headers.items():
        lname = name.lower()
        if lname in drop:
            continue
        if lname == "cookie":
            value = strip_cookie(value, cookie_name)
            if not value:
                continue
        out.add(name, value)
    peer = request.remote or "unknown"
    prior = request.headers.get("X-Forwarded-For")
    out["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
    out["X-Forwarded-Proto"] = request.scheme
    out["X-Forwarded-Host"] = request.host
    return out


def response_headers(
    upstream_headers: Iterable[tuple[str, str]], session_cookie: str, drop: frozenset[str]
) -> CIMultiDict[str]:
    """The IDE's response headers minus ``drop`` (lowercase), with its cookies rewritten."""
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in upstream_headers:
        lname = name.lower()
        if lname in drop:
            continue
        if lname == "set-cookie":
            rewritten = rewrite_upstream_cookie(value, session_cookie)
            if rewritten is None:
                log.info("upstream cookie dropped", extra={"cookie": value.partition("=")[0]})
                continue
            value = rewritten
        out.add(name, value)
    return out


class BodyTooLargeError(Exception):
    pass


class _LimitedBody:
    """A chunked request body, streamed, refused once it passes ``limit``."""

    def __init__(self, content: aiohttp.StreamReader, limit: int, sidecar: Sidecar) -> None:
        self._content = content
        self._limit = limit
        self._counters = sidecar.metrics.stats.bytes
        # aiohttp wraps errors raised by a body iterator; this flag survives the wrapping.
        self.exceeded = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        total = 0
        async for chunk in self._content.iter_any():
            total += len(chunk)
            if total > self._limit:
                self.exceeded = True
                raise BodyTooLargeError
            self._counters["http", "client_to_upstream"] += len(chunk)
            yield chunk


async def _read_capped(
    content: aiohttp.StreamReader, limit: int, counters: dict[tuple[str, str], int]
) -> tuple[list[bytes], bool]:
    """Read the body until its end or until it passes ``limit``; True if it ended in time."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in content.iter_any():
        counters["http", "upstream_to_client"] += len(chunk)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            return chunks, False
    return chunks, True


def _add_vary(headers: CIMultiDict[str], name: str) -> None:
    current = ", ".join(headers.getall("Vary", ()))
    tokens = {t.strip().lower() for t in current.split(",")}
    if "*" not in tokens and name.lower() not in tokens:
        headers["Vary"] = f"{current}, {name}" if current else name


async def proxy_http(
    request: web.Request, sidecar: Sidecar, document: bool = False
) -> web.StreamResponse:
    """Stream a request and its response; a navigation's HTML document gets activity.js."""
    cfg = sidecar.config
    metrics = sidecar.metrics
    length = request.content_length
    if length is not None and length > cfg.max_request_body_bytes:
        return error_response(413, "body_too_large", "The request body is too large.")
    raw_path = request.raw_path
    if not raw_path.startswith("/"):
        return error_response(400, "bad_request", "Only origin-form request targets are proxied.")
    url = URL(sidecar.upstream_base + raw_path, encoded=True)
    data: object = None
    limited: _LimitedBody | None = None
    if request.body_exists:
        if length is not None:
            data = request.content  # aiohttp streams it; the length is known
            metrics.stats.bytes["http", "client_to_upstream"] += length
        else:
            limited = _LimitedBody(request.content, cfg.max_request_body_bytes, sidecar)
            data = limited.__aiter__()
    headers = forward_headers(request, cfg.cookie_name)
    if document:
        # We may edit this body, so it must not come compressed.
        headers["Accept-Encoding"] = "identity"
    try:
        upstream = await sidecar.upstream_session.request(
            request.method,
            url,
            headers=headers,
            data=data,
            allow_redirects=False,
            timeout=sidecar.upstream_timeout,
        )
    except (BodyTooLargeError, aiohttp.ClientError, TimeoutError) as exc:
        if limited is not None and limited.exceeded:
            return error_response(413, "body_too_large", "The request body is too large.")
        return _upstream_failure(request, sidecar, exc)

    async with upstream:
        resp = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        drop = HOP_BY_HOP | _connection_tokens(upstream.headers)
        resp.headers.extend(response_headers(upstream.headers.items(), cfg.cookie_name, drop))
        counters = metrics.stats.bytes
        head: list[bytes] = []
        if upstream.content_type == "text/html":
            # The same URL answers navigations with our script and fetches without it: keep
            # the browser's cache from serving one for the other.
            _add_vary(resp.headers, "Sec-Fetch-Dest")
            if document and injectable(
                request.method, upstream.status, upstream.headers, cfg.inject_max_bytes
            ):
                try:
                    head, complete = await _read_capped(
                        upstream.content, cfg.inject_max_bytes, counters
                    )
                except (aiohttp.ClientError, TimeoutError) as exc:
                    return _upstream_failure(request, sidecar, exc)
                if complete:
                    body = inject(b"".join(head))
                    resp.content_length = len(body)
                    await resp.prepare(request)
                    await resp.write(body)
                    await resp.write_eof()
                    return resp
                # Too large to edit: what was read goes out first, the rest streams.
        await resp.prepare(request)
        try:
            for chunk in head:
                await resp.write(chunk)
            async for chunk in upstream.content.iter_any():
                counters["http", "upstream_to_client"] += len(chunk)
                await resp.write(chunk)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Headers are gone already: cut the connection so the client sees a broken body
            # instead of a clean end.
            metrics.upstream_errors.labels("body").inc()
            log.warning(
                "upstream body failed", extra={"error": type(exc).__name__, "path": request.path}
            )
            if request.transport is not None:
                request.transport.abort()
            return resp
        await resp.write_eof()
        return resp


def _upstream_failure(request: web.Request, sidecar: Sidecar, exc: BaseException) -> web.Response:
    metrics = sidecar.metrics
    if isinstance(exc, (aiohttp.ServerTimeoutError, TimeoutError)):
        metrics.upstream_errors.labels("timeout").inc()
        log.warning("upstream timed out", extra={"method": request.method, "path": request.path})
        return error_response(504, "upstream_timeout", "The workspace IDE did not answer in time.")
    if isinstance(
        exc, (aiohttp.ClientConnectorError, aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)
    ):
        metrics.upstream_errors.labels("connect").inc()
        log.warning("upstream unavailable", extra={"path": request.path})
        return _upstream_down()
    metrics.upstream_errors.labels("protocol").inc()
    log.warning("upstream error", extra={"error": type(exc).__name__, "path": request.path})
    return error_response(502, "upstream_error", "The workspace IDE sent an invalid response.")


def _upstream_down() -> web.Response:
    return error_response(
        502,
        "upstream_unavailable",
        "The workspace IDE is not reachable; it may still be starting. Try again shortly.",
    )


def _parse_head(head: bytes) -> tuple[int, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise UpstreamHandshakeError("malformed status line")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise UpstreamHandshakeError("malformed header line")
        headers.append((name.strip(), value.strip()))
    return int(parts[1]), headers


async def proxy_websocket(
    request: web.Request, sidecar: Sidecar, session_started: float
) -> web.StreamResponse:
    cfg = sidecar.config
    metrics = sidecar.metrics
    headers = forward_headers(request, cfg.cookie_name)
    # No permessage-deflate: it costs memory on both ends and would hide sizes from the scan.
    headers.popall("Sec-WebSocket-Extensions", None)
    headers["Connection"] = "Upgrade"
    headers["Upgrade"] = "websocket"
    lines = [f"{request.method} {request.raw_path} HTTP/1.1"]
    lines.extend(f"{k}: {v}" for k, v in headers.items())
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")

    splice = Splice(metrics.stats, cfg.max_ws_message_bytes)
    try:
        await open_upstream(
            cfg.upstream_host, cfg.upstream_port, head, splice, cfg.upstream_connect_timeout_seconds
        )
        async with asyncio.timeout(cfg.upstream_read_timeout_seconds):
            response_head = await splice.handshake
        status, upstream_headers = _parse_head(response_head)
    except TimeoutError:
        splice.abort()
        metrics.upstream_errors.labels("timeout").inc()
        return error_response(504, "upstream_timeout", "The workspace IDE did not answer in time.")
    except OSError:
        splice.abort()
        metrics.upstream_errors.labels("connect").inc()
        return _upstream_down()
    except UpstreamHandshakeError as exc:
        splice.abort()
        metrics.upstream_errors.labels("handshake").inc()
        log.warning("upstream handshake failed", extra={"error": str(exc)})
        return error_response(502, "upstream_error", "The workspace IDE refused the WebSocket.")
    if status != 101:
        splice.abort()
        metrics.upstream_errors.labels("handshake").inc()
        return error_response(
            status if 400 <= status < 500 else 502,
            "upstream_refused_upgrade",
            f"The workspace IDE answered the WebSocket upgrade with HTTP {status}.",
        )

    resp = web.StreamResponse(status=101, reason="Switching Protocols")
    resp.headers.extend(response_headers(upstream_headers, cfg.cookie_name, _UPGRADE_DROP))
    resp.headers["Upgrade"] = "websocket"
    resp.headers["Connection"] = "Upgrade"
    writer = await resp.prepare(request)
    assert writer is not None
    await writer.drain()

    transport = request.transport
    protocol = request.protocol
    if transport is None or transport.is_closing():
        splice.abort()
        return resp
    assert isinstance(protocol, RequestHandler)
    # Bytes aiohttp read past the upgrade request (frames the client sent without waiting for
    # our 101) belong to the WebSocket stream. aiohttp keeps them in a private attribute;
    # tests/sidecar/test_websocket.py fails if it is renamed, rather than frames vanishing.
    tail = protocol._message_tail
    protocol._message_tail = b""
    splice.start(transport, protocol)
    splice.feed_client_tail(tail)

    sidecar.splices[splice] = session_started
    try:
        await splice.done
    finally:
        sidecar.splices.pop(splice, None)
    return resp
