"""WebSocket relay by splicing raw bytes between the two TCP connections, as nginx does.

After authentication and the upgrade handshake, frames are not decoded or re-encoded: bytes
read from one socket are written to the other. Only client->upstream frame *headers* are
walked (opcode and length), to enforce the message size limit before an oversized frame is
forwarded. No WebSocket traffic counts as user activity (see activity.py), so nothing else is
looked at. Upstream->client bytes are never inspected. Flow control is the transports' own:
when one side's write buffer fills, reading from the other side pauses.
"""

from __future__ import annotations

import asyncio
import os
from typing import cast

from .metrics import Stats

# Small write buffers keep idle and slow connections cheap; the kernel buffers the rest.
WRITE_HIGH_WATER = 64 * 1024
HANDSHAKE_MAX_BYTES = 64 * 1024

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009


class MessageTooBigError(Exception):
    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        # Where the offending frame header starts in the chunk just fed (<0: in an earlier one).
        self.offset = offset


class FrameScanner:
    """Walks client->upstream frame headers in a byte stream; payloads are skipped, not copied."""

    __slots__ = ("_max", "_msg_len", "_partial", "_skip")

    def __init__(self, max_message: int) -> None:
        self._max = max_message
        self._skip = 0  # payload bytes of the current frame still to pass
        self._partial = b""  # a frame header split across reads
        self._msg_len = 0  # size of the current (possibly fragmented) data message

    @property
    def at_boundary(self) -> bool:
        return self._skip == 0 and not self._partial

    def feed(self, data: bytes) -> None:
        """Walk the frame headers in ``data``; raise MessageTooBigError on an oversized one."""
        buf = data
        base = 0
        if self._partial:
            base = len(self._partial)
            buf = self._partial + data
            self._partial = b""
        n = len(buf)
        pos = 0
        skip = self._skip
        while True:
            if skip:
                left = n - pos
                if skip >= left:
                    skip -= left
                    break
                pos += skip
                skip = 0
            if n - pos < 2:
                if n > pos:
                    self._partial = buf[pos:]
                break
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            masked = b1 & 0x80
            hlen = 6 if masked else 2
            if length == 126:
                hlen += 2
            elif length == 127:
                hlen += 8
            if n - pos < hlen:
                self._partial = buf[pos:]
                break
            if length == 126:
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
            elif length == 127:
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            opcode = b0 & 0x0F
            if opcode < 8:
                size = self._msg_len + length if opcode == 0 else length
                if size > self._max:
                    self._skip = 0
                    raise MessageTooBigError(pos - base)
                self._msg_len = size
            elif length > 125:
                # Control frames are at most 125 bytes (RFC 6455 5.5); treat as a violation.
                self._skip = 0
                raise MessageTooBigError(pos - base)
            pos += hlen
            skip = length
        self._skip = skip


def close_frame(code: int, reason: str = "", *, masked: bool) -> bytes:
    payload = code.to_bytes(2, "big") + reason.encode()[:120]
    if not masked:
        return bytes((0x88, len(payload))) + payload
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x88, 0x80 | len(payload))) + mask + body


class UpstreamHandshakeError(Exception):
    pass


class Splice:
    """One spliced client<->upstream connection. Create with ``open_upstream``."""

    __slots__ = (
        "_buffered",
        "_client",
        "_closing",
        "_discard",
        "_stats",
        "_upstream",
        "aiohttp_protocol",
        "done",
        "handshake",
        "scanner",
    )

    def __init__(self, stats: Stats, max_message: int) -> None:
        loop = asyncio.get_running_loop()
        self._stats = stats
        self.scanner = FrameScanner(max_message)
        self._upstream: asyncio.Transport | None = None
        self._client: asyncio.Transport | None = None
        self.aiohttp_protocol: asyncio.BaseProtocol | None = None
        # Resolves to the upstream's response head; bytes after it go to ``_buffered``.
        self.handshake: asyncio.Future[bytes] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self._buffered = b""  # upstream bytes that arrive before the client side is attached
        self._discard = False  # after we injected a close: drop further client bytes
        self._closing = False

    # -- setup -----------------------------------------------------------------------------

    def start(self, client: asyncio.Transport, aiohttp_protocol: asyncio.BaseProtocol) -> None:
        """Take the client transport over from aiohttp and start relaying."""
        self._client = client
        self.aiohttp_protocol = aiohttp_protocol
        client.set_protocol(_ClientSide(self))
        client.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        if self._buffered:
            self._to_client(self._buffered)
            self._buffered = b""
        if self._upstream is None or self._upstream.is_closing():
            client.close()
        else:
            client.resume_reading()

    def feed_client_tail(self, data: bytes) -> None:
        """Bytes aiohttp read past the upgrade request (frames sent before our 101)."""
        if data:
            self._from_client(data)

    # -- relay -----------------------------------------------------------------------------

    def _from_client(self, data: bytes) -> None:
        if self._discard:
            return
        self._stats.bytes["websocket", "client_to_upstream"] += len(data)
        try:
            self.scanner.feed(data)
        except MessageTooBigError as exc:
            self._refuse_oversized(data, exc.offset)
            return
        upstream = self._upstream
        if upstream is not None:
            upstream.write(data)

    def _to_client(self, data: bytes) -> None:
        self._stats.bytes["websocket", "upstream_to_client"] += len(data)
        client = self._client
        if client is None:
            self._buffered += data
        else:
            client.write(data)

    def _refuse_oversized(self, data: bytes, offset: int) -> None:
        upstream = self._upstream
        if upstream is None:
            return
        if offset >= 0:
            # Forward what precedes the frame, then ask the upstream to close with 1009: it
            # echoes the close to the client, which then sees the reason.
            upstream.write(data[:offset])
            upstream.write(close_frame(CLOSE_TOO_BIG, "message too big", masked=True))
            self._discard = True
            asyncio.get_running_loop().call_later(2.0, self.abort)
        else:
            self.abort()

    def close_gracefully(
        self,
        code: int = CLOSE_GOING_AWAY,
        reason: str = "server shutting down",
        timeout: float = 2.0,
    ) -> None:
        """Ask the upstream to close (it relays the close to the client); abort after timeout."""
        if self._closing:
            return
        self._closing = True
        upstream = self._upstream
        if upstream is not None and not upstream.is_closing() and self.scanner.at_boundary:
            upstream.write(close_frame(code, reason, masked=True))
            self._discard = True
            asyncio.get_running_loop().call_later(timeout, self.abort)
        else:
            self.abort()

    def abort(self) -> None:
        for transport in (self._upstream, self._client):
            if transport is not None and not transport.is_closing():
                transport.abort()

    def _upstream_lost(self) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(
                UpstreamHandshakeError("upstream closed during the handshake")
            )
        client = self._client
        if client is not None:
            client.close()  # flushes what is buffered first
        elif not self.done.done():
            self.done.set_result(None)

    def _client_lost(self, exc: Exception | None) -> None:
        upstream = self._upstream
        if upstream is not None and not upstream.is_closing():
            upstream.close()
        if not self.done.done():
            self.done.set_result(None)
        protocol = self.aiohttp_protocol
        if protocol is not None:
            # Let aiohttp do its own bookkeeping (connection registry, handler state).
            self.aiohttp_protocol = None
            protocol.connection_lost(exc)


class _ClientSide(asyncio.Protocol):
    __slots__ = ("_splice",)

    def __init__(self, splice: Splice) -> None:
        self._splice = splice

    def data_received(self, data: bytes) -> None:
        self._splice._from_client(data)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._splice._client_lost(exc)

    def pause_writing(self) -> None:
        upstream = self._splice._upstream
        if upstream is not None:
            upstream.pause_reading()

    def resume_writing(self) -> None:
        upstream = self._splice._upstream
        if upstream is not None:
            upstream.resume_reading()


class _UpstreamSide(asyncio.Protocol):
    __slots__ = ("_head", "_splice")

    def __init__(self, splice: Splice) -> None:
        self._splice = splice
        self._head = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, so no isinstance check.
        transport = cast(asyncio.Transport, transport)
        self._splice._upstream = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        splice = self._splice
        if splice.handshake.done():
            splice._to_client(data)
            return
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > HANDSHAKE_MAX_BYTES:
                splice.handshake.set_exception(
                    UpstreamHandshakeError("upstream handshake response too large")
                )
            return
        head, rest = self._head[: end + 4], self._head[end + 4 :]
        self._head = b""
        splice.handshake.set_result(head)
        if rest:
            splice._to_client(rest)

    def connection_lost(self, exc: Exception | None) -> None:
        self._splice._upstream_lost()

    def pause_writing(self) -> None:
        client = self._splice._client
        if client is not None:
            client.pause_reading()

    def resume_writing(self) -> None:
        client = self._splice._client
        if client is not None:
            client.resume_reading()


async def open_upstream(
    host: str, port: int, request_head: bytes, splice: Splice, connect_timeout: float
) -> None:
    """Connect to the upstream and send the upgrade request; raises OSError or TimeoutError."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(connect_timeout):
        transport, _ = await loop.create_connection(lambda: _UpstreamSide(splice), host, port)
    transport.write(request_head)
