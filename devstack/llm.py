"""Local LLM providers and the gateway: an OpenAI-compatible and an Anthropic-compatible stand-in
(aiohttp) that stream realistic chunks with usage, and ``start(stack)`` wiring the gateway to them.

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
import os
import re
import threading
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


# -- running them ---------------------------------------------------------------------------------
class BackgroundLoop:
    """An asyncio loop on its own thread, for aiohttp servers next to the WSGI origin."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()
        self._runners: list[web.AppRunner] = []

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def serve(
        self, app: web.Application, host: str = "127.0.0.1", port: int = 0, **runner: Any
    ) -> str:
        async def go() -> str:
            options = {"handler_cancellation": True, "access_log": None, **runner}
            runner_ = web.AppRunner(app, **options)
            await runner_.setup()
            site = web.TCPSite(runner_, host, port, backlog=1024)
            await site.start()
            self._runners.append(runner_)
            bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            return f"http://{host}:{bound}"

        url: str = self.run(go())
        return url

    def close(self) -> None:
        async def stop() -> None:
            for runner in reversed(self._runners):
                await runner.cleanup()

        try:
            self.run(stop(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)


OPENAI_STANDIN_KEY = "sk-standin-openai"
ANTHROPIC_STANDIN_KEY = "sk-ant-standin"


@dataclass
class StandIns:
    """Both provider stand-ins on one background loop."""

    loop: BackgroundLoop
    openai_url: str
    anthropic_url: str
    openai_log: StandInLog
    anthropic_log: StandInLog

    @classmethod
    def start(cls, loop: BackgroundLoop) -> StandIns:
        openai_log, anthropic_log = StandInLog(), StandInLog()
        openai_url = loop.serve(openai_app(OPENAI_STANDIN_KEY, openai_log))
        anthropic_url = loop.serve(anthropic_app(ANTHROPIC_STANDIN_KEY, anthropic_log))
        return cls(loop, openai_url, anthropic_url, openai_log, anthropic_log)

    def base_urls(self) -> dict[str, str]:
        """Every provider pointed at the stand-in that speaks its wire format."""
        from shared.llm.catalog import PROVIDERS

        return {
            name: f"{self.anthropic_url if p.wire == 'anthropic' else self.openai_url}/v1"
            for name, p in PROVIDERS.items()
        }


def provide_standin_keys(secrets: Any) -> None:
    """Give each provider without a key the stand-in's key (local secrets only)."""
    from shared.llm.catalog import PROVIDERS

    for provider in PROVIDERS.values():
        if not secrets.versions(provider.secret, 1):
            key = ANTHROPIC_STANDIN_KEY if provider.wire == "anthropic" else OPENAI_STANDIN_KEY
            secrets.add_version(provider.secret, key.encode())


@dataclass
class LocalGateway:
    loop: BackgroundLoop
    standins: StandIns
    url: str  # the gateway's own listener (its routes: /api/llm/v1/* and /v1/*)
    gateway: Any

    def stop(self) -> None:
        self.loop.close()


def run_gateway(services: Any, public_url: str, port: int = 0) -> LocalGateway:
    """Stand-ins and the gateway on one background loop, wired to ``services``' store/secrets."""
    from shared.llm.gateway import Gateway, create_app, runner_kwargs
    from shared.llm.settings import LlmSettings

    loop = BackgroundLoop("llm")
    standins = StandIns.start(loop)
    provide_standin_keys(services.secrets)
    settings = LlmSettings(
        base_urls=standins.base_urls(),
        retry_backoff_seconds=0.01,
        public_base_url=f"{public_url.rstrip('/')}/api/llm/v1",
    )
    gateway = Gateway(services.db, services.secrets, services.clock, settings)
    url = loop.serve(create_app(gateway), port=port, **runner_kwargs())
    return LocalGateway(loop, standins, url, gateway)


def start(stack: Any) -> Callable[[], None]:
    """The local stack's component: stand-ins, then the gateway behind /api/llm/v1 on the origin."""
    port = int(os.environ.get("CODITECT_LLM_PORT", "0"))
    running = run_gateway(stack.services, stack.url, port)
    stack.llm_gateway_url = running.url
    stack.started.append(
        f"LLM gateway {running.url} (/api/llm/v1 on the origin), provider stand-ins: "
        f"OpenAI-compatible {running.standins.openai_url}, "
        f"Anthropic-compatible {running.standins.anthropic_url}"
    )
    return running.stop


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class OriginRelay:
    """WSGI app on the local origin relaying ``/api/llm/v1/*`` to the gateway, chunk by chunk.

    In production the load balancer sends that path to the gateway's Cloud Run service; here the
    one origin is waitress (a WSGI server), so this relay stands in for the URL map. Each chunk
    is yielded as it arrives (waitress flushes each write, ``send_bytes`` is 1), and a client that
    goes away closes the relay's connection, which cancels the gateway's upstream call.
    """

    def __init__(self, gateway_url: Callable[[], str | None]) -> None:
        self._gateway_url = gateway_url

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        import http.client
        from urllib.parse import urlsplit

        base = self._gateway_url()
        if not base:
            error = {"message": "the LLM gateway is not running", "type": "api_error"}
            body = json.dumps({"error": {**error, "code": "unavailable"}}).encode()
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [body]
        target = urlsplit(base)
        path = environ.get("PATH_INFO", "") + (
            f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else ""
        )
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = environ["wsgi.input"].read(length) if length else b""
        headers = {
            name[5:].replace("_", "-").title(): value
            for name, value in environ.items()
            if name.startswith("HTTP_") and name[5:].lower().replace("_", "-") not in HOP_BY_HOP
        }
        headers.pop("Host", None)
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=300)
        conn.request(environ["REQUEST_METHOD"], path, body=payload, headers=headers)
        upstream = conn.getresponse()
        start_response(
            f"{upstream.status} {upstream.reason}",
            [(k, v) for k, v in upstream.getheaders() if k.lower() not in HOP_BY_HOP],
        )
        return _Relayed(conn, upstream)


class _Relayed:
    def __init__(self, conn: Any, upstream: Any) -> None:
        self._conn, self._upstream = conn, upstream

    def __iter__(self) -> Any:
        while True:
            chunk = self._upstream.read1(65536)
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        self._conn.close()


def origin_relay(stack: Any) -> OriginRelay:
    """The route the local origin mounts at ``/api/llm/v1/`` (the gateway starts later)."""
    return OriginRelay(lambda: getattr(stack, "llm_gateway_url", None))


def main() -> None:
    """``python -m devstack.llm [--port N]``: both stand-ins in the foreground (benchmarks)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=0, help="OpenAI-compatible (0: any)")
    parser.add_argument("--anthropic-port", type=int, default=0, help="Anthropic (0: any)")
    args = parser.parse_args()
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    loop = BackgroundLoop("standins")
    log = StandInLog()
    openai_url = loop.serve(openai_app(OPENAI_STANDIN_KEY, log), port=args.port)
    anthropic_url = loop.serve(anthropic_app(ANTHROPIC_STANDIN_KEY, log), port=args.anthropic_port)
    print(f"openai {openai_url} anthropic {anthropic_url}", flush=True)
    log.requests = _Forgetful()  # a long benchmark must not keep every body
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        loop.close()


class _Forgetful(list[dict[str, Any]]):
    def append(self, item: Any) -> None:
        pass


if __name__ == "__main__":
    main()
