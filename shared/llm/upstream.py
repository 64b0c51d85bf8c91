"""Calling providers: retries on 429/5xx/connection errors before the first byte only, then the
catalog's fallback model. Once a first byte (or a stream's first event) has been received the
call is committed: nothing after that is retried, the gateway ends a broken stream with an error.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from shared.llm import anthropic, sse
from shared.llm.catalog import PROVIDERS, Model
from shared.llm.errors import LlmError
from shared.llm.settings import LlmSettings

log = logging.getLogger("coditect.llm")


@dataclass
class Opened:
    """An upstream call that answered 200 (and, for a stream, sent its first event)."""

    model: Model
    response: aiohttp.ClientResponse
    body: bytes = b""  # non-streaming: the whole body
    first: sse.Event | None = None  # streaming: the first event, already read
    rest: AsyncIterator[sse.Event] | None = None

    complete: bool = False  # the whole answer was read: the connection can be reused

    def close(self) -> None:
        if self.complete:
            self.response.release()  # back to the pool for the next request
        else:
            self.response.close()  # drops the connection: the upstream sees the cancel


def request_for(
    model: Model, body: dict[str, Any], key: str, base_url: str
) -> tuple[str, dict[str, str], bytes]:
    provider = PROVIDERS[model.provider]
    if provider.wire == "anthropic":
        payload = anthropic.to_request(body, model)
        headers = {"x-api-key": key, "anthropic-version": anthropic.API_VERSION}
        url = f"{base_url}/messages"
    else:
        payload = {**body, "model": model.upstream}
        if body.get("stream") and provider.stream_usage_option:
            # Ask for usage always (Theia does not); the gateway drops it if the client did not ask.
            payload["stream_options"] = {
                **(body.get("stream_options") or {}),
                "include_usage": True,
            }
        headers = {"Authorization": f"Bearer {key}"}
        url = f"{base_url}/chat/completions"
    headers["Content-Type"] = "application/json"
    return url, headers, json.dumps(payload).encode()


@dataclass
class Failure:
    status: int
    message: str
    retry_after: str | None = None


def _final_error(failure: Failure | None) -> LlmError:
    if failure is None:
        return LlmError(503, "no_upstream", "no provider can serve this model now")
    if failure.status == 429:
        headers = {"Retry-After": failure.retry_after or "1"}
        return LlmError(
            429,
            "upstream_rate_limited",
            f"the provider is rate limiting: {failure.message}",
            headers=headers,
        )
    if failure.status == 504:
        return LlmError(504, "upstream_timeout", failure.message)
    return LlmError(502, "upstream_unavailable", f"the provider failed: {failure.message}")


async def _error_message(response: aiohttp.ClientResponse) -> str:
    try:
        data = json.loads(await response.read())
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            return str(error.get("message", ""))[:500]
        return str(error or data)[:500]
    except (ValueError, aiohttp.ClientError):
        return f"status {response.status}"


async def _chunks(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    async for chunk in response.content.iter_any():
        yield chunk


async def open_call(
    session: aiohttp.ClientSession,
    settings: LlmSettings,
    chain: list[Model],
    body: dict[str, Any],
    key_of: Callable[[str], str | None],
) -> Opened:
    """The first model of ``chain`` that answers, trying each ``attempts_per_model`` times."""
    failure: Failure | None = None
    timeout = aiohttp.ClientTimeout(
        sock_connect=settings.connect_timeout_seconds, sock_read=settings.read_timeout_seconds
    )
    for model in chain:
        key = key_of(model.provider)
        if key is None:
            continue
        url, headers, payload = request_for(model, body, key, settings.base_url(model.provider))
        for attempt in range(settings.attempts_per_model):
            if attempt:
                await asyncio.sleep(settings.retry_backoff_seconds * 2 ** (attempt - 1))
            response: aiohttp.ClientResponse | None = None
            try:
                async with asyncio.timeout(settings.first_byte_timeout_seconds):
                    response = await session.post(
                        url, data=payload, headers=headers, timeout=timeout
                    )
                    if response.status == 200:
                        if not body.get("stream"):
                            raw = await response.read()
                            return Opened(model, response, body=raw, complete=True)
                        stream = sse.events(_chunks(response))
                        first = await anext(stream, None)
                        if first is not None:
                            return Opened(model, response, first=first, rest=stream)
                        failure = Failure(502, "the stream ended before its first event")
                    elif response.status == 429 or response.status >= 500:
                        failure = Failure(
                            response.status,
                            await _error_message(response),
                            response.headers.get("Retry-After"),
                        )
                    elif response.status in (401, 403):
                        log.error(
                            "provider refused our key",
                            extra={"fields": {"provider": model.provider}},
                        )
                        raise LlmError(
                            502,
                            "upstream_auth_failed",
                            f"provider {model.provider} refused the gateway's credentials",
                        )
                    else:
                        # The request itself is wrong for this provider: retrying will not help.
                        status = response.status if response.status in (400, 404, 413, 422) else 400
                        raise LlmError(status, "upstream_rejected", await _error_message(response))
            except TimeoutError:
                failure = Failure(504, "the provider did not answer in time")
            except aiohttp.ClientError as error:
                failure = Failure(502, type(error).__name__)
            except BaseException:
                if response is not None:
                    response.close()
                raise
            if response is not None:
                response.close()
            log.warning(
                "upstream attempt failed",
                extra={
                    "fields": {
                        "model": model.id,
                        "attempt": attempt + 1,
                        "status": failure.status if failure else 0,
                    }
                },
            )
    raise _final_error(failure)
