"""The local stack's LLM part: the provider stand-ins (devstack.llm_standins) on a background
loop, the gateway wired to them (``start(stack)``), and the relay that puts the gateway behind
``/api/llm/v1`` on the one local origin. ``python -m devstack.llm`` runs the stand-ins alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from devstack.llm_standins import StandInLog, anthropic_app, openai_app


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


def run_gateway(services: Any, port: int = 0) -> LocalGateway:
    """Stand-ins and the gateway on one background loop, wired to ``services``' store/secrets,
    with every provider pointed at its stand-in (``services.settings.llm`` otherwise)."""
    from shared.llm.gateway import Gateway, create_app, runner_kwargs

    loop = BackgroundLoop("llm")
    standins = StandIns.start(loop)
    provide_standin_keys(services.secrets)
    settings = dataclasses.replace(
        services.settings.llm, base_urls=standins.base_urls(), retry_backoff_seconds=0.01
    )
    gateway = Gateway(services.db, services.secrets, services.clock, settings)
    url = loop.serve(create_app(gateway), port=port, **runner_kwargs())
    return LocalGateway(loop, standins, url, gateway)


def start(stack: Any) -> Callable[[], None]:
    """The local stack's component: stand-ins, then the gateway behind /api/llm/v1 on the origin."""
    running = run_gateway(stack.services, stack.dev.llm_port)
    stack.llm_gateway_url = running.url
    stack.started.append(
        f"LLM gateway {running.url} ({stack.services.settings.llm_public_url} on the origin), "
        f"provider stand-ins: OpenAI-compatible {running.standins.openai_url}, "
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
