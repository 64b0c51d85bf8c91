"""The local stack answers every client of a crowd, not only the first hundred."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.stack import LocalStack
from shared.settings import Settings
from tests.conftest import free_port

CLIENTS = 350


@pytest.fixture
def stack(tmp_path: Any) -> Iterator[LocalStack]:
    port = free_port()
    settings = Settings(data_dir=str(tmp_path / "data"), public_url=f"http://127.0.0.1:{port}")
    running = LocalStack(settings, port=port, threads=8, components=[])
    running.start()
    yield running
    running.stop()


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(4096)
    return head.split(b"\r\n", 1)[0]


def test_every_one_of_350_open_connections_is_answered(stack: LocalStack) -> None:
    # All connections open at once and kept open (keep-alive), as a crowd of browsers does.
    socks = [socket.create_connection((stack.host, stack.port), timeout=30) for _ in range(CLIENTS)]
    try:
        request = f"GET /healthz HTTP/1.1\r\nHost: {stack.host}:{stack.port}\r\n\r\n".encode()
        for sock in socks:
            sock.sendall(request)
        statuses = [_read_response(sock) for sock in socks]
        assert statuses == [b"HTTP/1.1 200 OK"] * CLIENTS
        # Still open and served again: none was dropped to make room for the others.
        for sock in socks[-50:]:
            sock.sendall(request)
        assert [_read_response(sock) for sock in socks[-50:]] == [b"HTTP/1.1 200 OK"] * 50
    finally:
        for sock in socks:
            sock.close()
