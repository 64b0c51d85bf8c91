"""Relaying an upstream answer to the client: whole, or event by event as it arrives.

OpenAI-shaped streams are forwarded byte for byte (bar a usage chunk the client did not ask
for); Anthropic streams are translated event by event. A stream that breaks off after its first
byte ends with an OpenAI-shaped error event, which clients raise as an error.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from shared.llm import sse
from shared.llm.anthropic import StreamTranslator, to_response
from shared.llm.catalog import PROVIDERS
from shared.llm.errors import LlmError
from shared.llm.upstream import Opened


def whole_answer(opened: Opened, usage: dict[str, Any]) -> web.Response:
    headers = {"X-Coditect-Model": opened.model.id}
    try:
        data = json.loads(opened.body)
    except ValueError:
        error = LlmError(502, "upstream_invalid", "the provider's answer is not JSON")
        return web.json_response(error.body(), status=502)
    if PROVIDERS[opened.model.provider].wire == "anthropic":
        data = to_response(data, opened.model.id)
        usage.update(data["usage"])
        return web.json_response(data, headers=headers)
    usage.update(data.get("usage") or {})
    return web.Response(body=opened.body, content_type="application/json", headers=headers)


async def _all_events(opened: Opened) -> AsyncIterator[sse.Event]:
    assert opened.first is not None and opened.rest is not None
    yield opened.first
    async for event in opened.rest:
        yield event


async def relay_stream(
    request: web.Request, opened: Opened, body: dict[str, Any], usage: dict[str, Any]
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Coditect-Model": opened.model.id,
        }
    )
    await response.prepare(request)
    wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    anthropic_wire = PROVIDERS[opened.model.provider].wire == "anthropic"
    relay = _translated if anthropic_wire else _passed
    try:
        ended = await relay(response, opened, wants_usage, usage)
        # Only a stream read to its end leaves the connection reusable; Anthropic ends on
        # message_stop, so what follows it is read first.
        opened.complete = ended and await _drained(opened)
        if not ended:
            cut = LlmError(502, "upstream_stream_cut", "the provider's stream ended early")
            await response.write(cut.sse())
    except LlmError as error:
        await response.write(error.sse())
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError):
        if request.transport is None or request.transport.is_closing():
            return response  # the client left; the upstream is closed by the caller
        cut = LlmError(502, "upstream_stream_cut", "the provider's stream broke off")
        await response.write(cut.sse())
    return response


async def _drained(opened: Opened) -> bool:
    """Read what the upstream sends after the end marker (usually nothing) for up to 2 s."""
    assert opened.rest is not None
    try:
        async with asyncio.timeout(2):
            async for _ in opened.rest:
                pass
        return True
    except TimeoutError:
        return False


async def _passed(
    response: web.StreamResponse, opened: Opened, wants_usage: bool, usage: dict[str, Any]
) -> bool:
    """OpenAI-shaped upstream: every event forwarded as received, bar an unasked usage chunk."""
    async for event in _all_events(opened):
        if event.data == "[DONE]":
            await response.write(event.raw)
            return True
        if '"usage"' in event.data or '"error"' in event.data:
            data = json.loads(event.data)
            if isinstance(data.get("usage"), dict):
                usage.update(data["usage"])
                if not wants_usage and not data.get("choices"):
                    continue
            if "error" in data:
                await response.write(event.raw)
                return True
        await response.write(event.raw)
    return False


async def _translated(
    response: web.StreamResponse, opened: Opened, wants_usage: bool, usage: dict[str, Any]
) -> bool:
    """Anthropic upstream: each event translated to OpenAI chunks and sent at once."""
    translator = StreamTranslator(opened.model.id)
    try:
        async for event in _all_events(opened):
            chunks = translator.feed(event.name, json.loads(event.data))
            if chunks:
                await response.write(
                    b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks)
                )
            if translator.finished:
                tail = f"data: {json.dumps(translator.usage_chunk())}\n\n" if wants_usage else ""
                await response.write(f"{tail}data: [DONE]\n\n".encode())
                return True
        return False
    finally:
        usage.update(translator.usage_chunk()["usage"])
