"""The client->upstream frame header scan that enforces the message size limit (no sockets)."""

from __future__ import annotations

import os

import pytest

from sidecar.wsplice import FrameScanner, MessageTooBigError, close_frame


def frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = bytes((first, (0x80 if masked else 0) | n))
    elif n < 65536:
        head = bytes((first, (0x80 if masked else 0) | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((first, (0x80 if masked else 0) | 127)) + n.to_bytes(8, "big")
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def feed_in_pieces(scanner: FrameScanner, data: bytes, size: int) -> None:
    for i in range(0, len(data), size):
        scanner.feed(data[i : i + size])


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 64, 100_000])
def test_frames_walked_at_any_split(piece: int) -> None:
    stream = b"".join(
        frame(opcode, payload)
        for opcode, payload in (
            (0x1, b"hello"),
            (0x1, b""),
            (0x9, b"ping"),
            (0x2, b"x" * 126),
            (0xA, b""),
            (0x1, b"2"),
            (0x2, b"y" * 70_000),
        )
    )
    scanner = FrameScanner(70_000)
    feed_in_pieces(scanner, stream, piece)
    assert scanner.at_boundary
    # Still in step with the stream: the next oversized header is found where it starts.
    with pytest.raises(MessageTooBigError):
        feed_in_pieces(scanner, frame(0x2, b"z" * 70_001), piece)


def test_fragments_add_up_and_reset() -> None:
    scanner = FrameScanner(100)
    scanner.feed(frame(0x1, b"a" * 60, fin=False))
    scanner.feed(frame(0x9, b"ping in between"))  # control frames may interleave
    scanner.feed(frame(0x0, b"a" * 40))
    scanner.feed(frame(0x2, b"b" * 100))  # a new message starts from zero
    assert scanner.at_boundary


def test_size_limit_single_and_fragmented() -> None:
    scanner = FrameScanner(100)
    scanner.feed(frame(0x2, b"a" * 100))  # exactly the limit passes
    prefix = frame(0x2, b"ok")
    with pytest.raises(MessageTooBigError) as excinfo:
        scanner.feed(prefix + frame(0x2, b"b" * 101))
    assert excinfo.value.offset == len(prefix)

    scanner = FrameScanner(100)
    scanner.feed(frame(0x1, b"a" * 60, fin=False))
    with pytest.raises(MessageTooBigError):
        scanner.feed(frame(0x0, b"a" * 41))


def test_oversized_control_frame_refused() -> None:
    bogus = bytes((0x89, 0x80 | 126)) + (200).to_bytes(2, "big") + b"\x00" * 4
    with pytest.raises(MessageTooBigError):
        FrameScanner(1 << 20).feed(bogus)


def test_close_frames() -> None:
    assert close_frame(1001, masked=False) == b"\x88\x02\x03\xe9"
    masked = close_frame(1009, "too big", masked=True)
    assert masked[0] == 0x88 and masked[1] == 0x80 | 9
    mask = masked[2:6]
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(masked[6:]))
    assert payload == (1009).to_bytes(2, "big") + b"too big"
