"""Server-sent events framing: split a byte stream into events without re-encoding them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    raw: bytes  # the event exactly as received, terminator included (forwarded as is)
    name: str
    data: str


def parse_event(raw: bytes) -> Event:
    name, data = "", []
    for line in raw.decode("utf-8", "replace").splitlines():
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line.startswith("event:"):
            name = line[6:].strip()
    return Event(raw, name, "\n".join(data))


async def events(chunks: AsyncIterator[bytes]) -> AsyncIterator[Event]:
    """Events as they complete; a trailing partial event (a cut stream) is dropped."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk.replace(b"\r\n", b"\n") if b"\r" in chunk else chunk
        while True:
            end = buffer.find(b"\n\n")
            if end < 0:
                break
            raw, buffer = buffer[: end + 2], buffer[end + 2 :]
            if raw.strip() and not raw.startswith(b":"):  # comments are keep-alives
                yield parse_event(raw)
