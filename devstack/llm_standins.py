"""Local LLM providers: an OpenAI-compatible and an Anthropic-compatible stand-in (aiohttp) that
stream realistic chunks with usage and tool calls (run by devstack.llm).

Faults are asked for by magic words in the last user message:
``[fault:429]`` / ``[fault:500]`` always fail before the first byte, ``[fault:429x1]`` /
``[fault:500x1]`` fail only the first time that prompt is seen, ``[fault:slow:0.5]`` waits 0.5 s
before the headers, ``[fault:cut]`` closes the connection after 3 chunks, ``[fault:error-after]``
sends 3 chunks then an error event; ``[fault:500@<upstream model>]`` fails that model only.
``[chunks:N]`` and ``[gap:MS]`` shape the stream. A request with ``tools`` gets a call of the
first tool unless the last message is already a tool result.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

WORDS = "The quick brown fox jumps over the lazy dog while the compiler hums along".split()


@dataclass
class StandInLog:
    """What a stand-in saw: tests assert on it (counts, bodies, cancellations)."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    cancelled: int = 0
    completed: int = 0
    seen_prompts: Counter[str] = field(default_factory=Counter)

    def forwarded(self, marker: str) -> int:
        return sum(1 for body in self.requests if marker in json.dumps(body))


@dataclass(frozen=True)
class Script:
    text: str
    chunks: int = 8
    gap: float = 0.0
    fault: str = ""
    slow: float = 0.0


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _script(prompt: str, log: StandInLog, model: str = "") -> Script:
    chunks = re.search(r"\[chunks:(\d+)\]", prompt)
    gap = re.search(r"\[gap:(\d+)\]", prompt)
    fault_match = re.search(r"\[fault:([a-z0-9:.@\-]+)\]", prompt)
    fault, slow = (fault_match.group(1) if fault_match else ""), 0.0
    fault, _, only_for = fault.partition("@")
    if only_for and only_for != model:
        fault = ""
    log.seen_prompts[prompt] += 1
    if fault.endswith("x1"):
        fault = fault[:-2] if log.seen_prompts[prompt] == 1 else ""
    if fault.startswith("slow:"):
        fault, slow = "", float(fault.split(":", 1)[1])
    return Script(
        text=prompt,
        chunks=int(chunks.group(1)) if chunks else 8,
        gap=int(gap.group(1)) / 1000 if gap else 0.0,
        fault=fault,
        slow=slow,
    )


def _pieces(n: int) -> list[str]:
    return [WORDS[i % len(WORDS)] + " " for i in range(n)]


def _prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return max(1, len(json.dumps(messages)) // 4)


def _wants_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    tools = body.get("tools") or []
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    last_is_result = last.get("role") == "tool" or (
        isinstance(last.get("content"), list)
        and any(p.get("type") == "tool_result" for p in last["content"] if isinstance(p, dict))
    )
    return tools[0] if tools and not last_is_result else None


async def _gated(request: web.Request, log: StandInLog, handler: Callable[..., Any]) -> Any:
    try:
        result = await handler()
        log.completed += 1
        return result
    except (asyncio.CancelledError, ConnectionResetError):
        log.cancelled += 1
        raise


# -- OpenAI-compatible ---------------------------------------------------------------------------
def openai_app(api_key: str, log: StandInLog) -> web.Application:
    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": []})

    async def chat(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {api_key}":
            return _openai_error(401, "Incorrect API key provided", "invalid_api_key")
        body = await request.json()
        log.requests.append(body)
        script = _script(_last_user_text(body.get("messages", [])), log, body.get("model", ""))
        return await _gated(request, log, lambda: _openai_reply(request, body, script))

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)
    return app


def _openai_error(status: int, message: str, code: str) -> web.Response:
    kind = "rate_limit_error" if status == 429 else "server_error"
    return web.json_response(
        {"error": {"message": message, "type": kind, "param": None, "code": code}},
        status=status,
        headers={"Retry-After": "0"} if status == 429 else None,
    )


async def _openai_reply(
    request: web.Request, body: dict[str, Any], script: Script
) -> web.StreamResponse:
    if script.slow:
        await asyncio.sleep(script.slow)
    if script.fault in ("429", "500"):
        return _openai_error(int(script.fault), f"injected {script.fault}", "injected")
    model, created = body["model"], int(time.time())
    cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    tool = _wants_tool(body)
    pieces = _pieces(script.chunks)
    usage = {
        "prompt_tokens": _prompt_tokens(body["messages"]),
        "completion_tokens": len(pieces),
        "total_tokens": _prompt_tokens(body["messages"]) + len(pieces),
    }
    args = json.dumps({"query": "fox", "limit": 3})
    if not body.get("stream"):
        message: dict[str, Any] = {"role": "assistant", "content": "".join(pieces)}
        finish = "stop"
        if tool:
            function = {"name": tool["function"]["name"], "arguments": args}
            call = {"id": "call_1", "type": "function", "function": function}
            message, finish = (
                {"role": "assistant", "content": None, "tool_calls": [call]},
                "tool_calls",
            )
        choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
        return web.json_response(
            {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [choice],
                "usage": usage,
            }
        )
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)

    async def send(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> None:
        chunk = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

    await send({"role": "assistant", "content": ""})
    if tool:
        name = tool["function"]["name"]
        await send(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ]
            }
        )
        for part in (args[:10], args[10:]):
            await send({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
        await send({}, "tool_calls")
    else:
        for n, piece in enumerate(pieces):
            if n == 3 and script.fault == "cut":
                request.transport.close()  # type: ignore[union-attr]
                return response
            if n == 3 and script.fault == "error-after":
                error = {"error": {"message": "injected upstream failure", "type": "server_error"}}
                await response.write(f"data: {json.dumps(error)}\n\n".encode())
                return response
            if script.gap:
                await asyncio.sleep(script.gap)
            await send({"content": piece})
        await send({}, "stop")
    if (body.get("stream_options") or {}).get("include_usage"):
        chunk = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": usage,
        }
        await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    return response


# -- Anthropic-compatible ------------------------------------------------------------------------
def anthropic_app(api_key: str, log: StandInLog) -> web.Application:
    async def messages(request: web.Request) -> web.StreamResponse:
        # The API takes ``x-api-key``; newer SDKs send the key as a Bearer token instead.
        presented = request.headers.get("x-api-key") or request.headers.get(
            "Authorization", ""
        ).removeprefix("Bearer ")
        if presented != api_key:
            return _anthropic_error(401, "authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return _anthropic_error(400, "invalid_request_error", "anthropic-version missing")
        body = await request.json()
        log.requests.append(body)
        if not isinstance(body.get("max_tokens"), int):
            return _anthropic_error(400, "invalid_request_error", "max_tokens: Field required")
        script = _script(_last_user_text(body.get("messages", [])), log, body.get("model", ""))
        return await _gated(request, log, lambda: _anthropic_reply(request, body, script))

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    return app


def _anthropic_error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response(
        {"type": "error", "error": {"type": kind, "message": message}}, status=status
    )


async def _anthropic_reply(
    request: web.Request, body: dict[str, Any], script: Script
) -> web.StreamResponse:
    if script.slow:
        await asyncio.sleep(script.slow)
    if script.fault == "429":
        return _anthropic_error(429, "rate_limit_error", "injected 429")
    if script.fault == "500":
        return _anthropic_error(
            529 if "overloaded" in script.text else 500, "api_error", "injected"
        )
    mid = f"msg_{uuid.uuid4().hex[:24]}"
    tool = _wants_tool(body)
    pieces = _pieces(script.chunks)
    input_tokens = _prompt_tokens(body["messages"]) + len(str(body.get("system", ""))) // 4
    tool_input = {"query": "fox", "limit": 3}
    if not body.get("stream"):
        content: list[dict[str, Any]] = [{"type": "text", "text": "".join(pieces)}]
        stop = "end_turn"
        if tool:
            content.append(
                {"type": "tool_use", "id": "toolu_01", "name": tool["name"], "input": tool_input}
            )
            stop = "tool_use"
        return web.json_response(
            {
                "id": mid,
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": len(pieces)},
            }
        )
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)

    async def send(event: str, data: dict[str, Any]) -> None:
        await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())

    await send(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": mid,
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": 1},
            },
        },
    )
    await send(
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    )
    await send("ping", {"type": "ping"})
    for n, piece in enumerate(pieces):
        if n == 3 and script.fault == "cut":
            request.transport.close()  # type: ignore[union-attr]
            return response
        if n == 3 and script.fault == "error-after":
            await send(
                "error",
                {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            )
            return response
        if script.gap:
            await asyncio.sleep(script.gap)
        await send(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": piece},
            },
        )
    await send("content_block_stop", {"type": "content_block_stop", "index": 0})
    stop = "end_turn"
    if tool:
        stop = "tool_use"
        await send(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": tool["name"],
                    "input": {},
                },
            },
        )
        raw = json.dumps(tool_input)
        for part in (raw[:7], raw[7:]):
            await send(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": part},
                },
            )
        await send("content_block_stop", {"type": "content_block_stop", "index": 1})
    await send(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": len(pieces)},
        },
    )
    await send("message_stop", {"type": "message_stop"})
    return response
