"""The gateway: an aiohttp application speaking OpenAI's API at ``/api/llm/v1`` (and ``/v1``).

Per request: the workspace key is resolved and the plan read (one read transaction, or the
instance's reading of the last few seconds: ``CODITECT_LLM_KEY_CACHE_SECONDS``), the model
checked against the plan and the configured providers, one request reserved (metering.reserve),
the upstream called (upstream.open_call), and the answer relayed chunk by chunk as it arrives.
Nothing reaches the client before the upstream has answered, so every failure up to then is
retried, falls back, or is refused with the reservation given back.

Reserving costs a commit (~1-2 ms, more at p99). Near the limit every request reserves exactly
one before anything is sent upstream, so a refused request never reaches a provider. With
plenty left, an instance reserves a block and serves the next requests from it without a
commit (metering.py). Usage records are batched and written after the responses, off the path.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from shared.clock import Clock, isoformat
from shared.llm import catalog, keys, metering
from shared.llm.catalog import MODELS, PROVIDERS, Model
from shared.llm.errors import LlmError
from shared.llm.relay import relay_stream, whole_answer
from shared.llm.settings import LlmSettings
from shared.llm.upstream import Opened, open_call
from shared.plans import Plan, effective_plan
from shared.secrets import SecretsPort
from shared.store import Database, Transaction
from shared.store.keys import TENANTS

log = logging.getLogger("coditect.llm")
T = TypeVar("T")
BLOCK_ABOVE = 512  # remaining requests above which an instance reserves blocks
BLOCK_MAX = 32
PROVIDER_KEY_SECONDS = 60.0
KEY_CACHE_MAX = 10_000


@dataclass(frozen=True)
class Caller:
    owner: keys.KeyOwner
    plan: Plan


@dataclass
class Gateway:
    db: Database
    secrets: SecretsPort
    clock: Clock
    settings: LlmSettings
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(16, "llm-store"))
    session: aiohttp.ClientSession | None = None
    remaining_hint: dict[str, int] = field(default_factory=dict)
    blocks: dict[tuple[str, str], Block] = field(default_factory=dict)
    pending_usage: dict[tuple[str, str, str, str], metering.Usage] = field(default_factory=dict)
    pending_moment: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    _provider_keys: tuple[float, dict[str, str]] = (0.0, {})
    # Recently authorized keys (key -> (until, caller)): a key seen again within
    # ``key_cache_seconds`` skips its read transaction and the hop to the store's thread.
    _callers: dict[str, tuple[float, Caller]] = field(default_factory=dict)
    _background: set[asyncio.Future[Any]] = field(default_factory=set)

    # -- plumbing --------------------------------------------------------------------------------
    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(self.db.transact, fn, *args))

    def later(self, fn: Callable[..., Any], *args: Any) -> None:
        """A store write after the response; kept referenced until done, never awaited."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.pool, functools.partial(self.db.transact, fn, *args))
        self._background.add(future)
        future.add_done_callback(self._settled)

    def _settled(self, future: asyncio.Future[Any]) -> None:
        self._background.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("usage write failed", exc_info=future.exception())

    async def provider_keys(self) -> dict[str, str]:
        fetched_at, found = self._provider_keys
        if time.monotonic() - fetched_at < PROVIDER_KEY_SECONDS:
            return found
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(self.pool, self._read_provider_keys)
        self._provider_keys = (time.monotonic(), found)
        return found

    def _read_provider_keys(self) -> dict[str, str]:
        out = {}
        for provider in PROVIDERS.values():
            versions = self.secrets.versions(provider.secret, 1)
            if versions and versions[0].strip():
                out[provider.name] = versions[0].decode().strip()
        return out

    # -- who is calling ----------------------------------------------------------------------------
    async def caller(self, presented: str) -> Caller:
        """The key's owner and plan: from the store, or as read less than
        ``key_cache_seconds`` ago (a revoked key or a plan change reaches this instance that
        much later; refusals are never cached)."""
        now = self.clock.now()
        cached = self._callers.get(presented)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await self.run(self.authorize, presented)
        ttl = self.settings.key_cache_seconds
        if ttl > 0:
            if len(self._callers) >= KEY_CACHE_MAX:
                self._callers.clear()  # bounded memory; the next requests read the store again
            self._callers[presented] = (now + ttl, found)
        return found

    def authorize(self, tr: Transaction, presented: str) -> Caller:
        owner = keys.lookup_key(tr, presented)
        if owner is None:
            raise LlmError(401, "invalid_api_key", "the API key is not valid (unknown or revoked)")
        raw = tr.get(TENANTS[owner.tenant_id].key("workspace", owner.user_id, owner.workspace_id))
        workspace = json.loads(raw) if raw else None
        if workspace is None or workspace.get("desired") == "deleted":
            raise LlmError(401, "invalid_api_key", "the key's workspace no longer exists")
        raw_license = tr.get(TENANTS[owner.tenant_id].key("license"))
        license_record = json.loads(raw_license) if raw_license else None
        return Caller(owner, effective_plan(license_record, self.clock.now()))

    def limit_error(self, caller: Caller) -> LlmError:
        now = self.clock.now()
        wait = metering.seconds_to_next_month(now)
        limit = caller.plan.limits.llm_requests_per_month
        return LlmError(
            429,
            "monthly_limit_reached",
            f"the {caller.plan.name} plan's {limit} LLM requests for {metering.month_of(now)} "
            f"are used up; the count resets at {isoformat(now + wait)} (or upgrade the plan)",
            headers={"Retry-After": str(wait)},
        )

    async def usable_chain(self, caller: Caller, model_id: Any) -> list[Model]:
        if not isinstance(model_id, str) or model_id not in MODELS:
            raise LlmError(404, "model_not_found", f"the model {model_id!r} does not exist")
        if caller.plan.name not in MODELS[model_id].plans:
            raise LlmError(
                403,
                "model_not_in_plan",
                f"the {caller.plan.name} plan may not use {model_id}; upgrade the plan to use it",
            )
        available = await self.provider_keys()
        if MODELS[model_id].provider not in available:
            raise LlmError(404, "model_not_found", f"the model {model_id!r} is not available")
        return [
            m
            for m in catalog.chain(model_id)
            if caller.plan.name in m.plans and m.provider in available
        ]

    # -- admission: reserve, then open the upstream call ---------------------------------------
    async def admit(self, caller: Caller, chain: list[Model], body: dict[str, Any]) -> Opened:
        assert self.session is not None
        keys_now = await self.provider_keys()
        taken = await self.take(caller)
        try:
            return await open_call(self.session, self.settings, chain, body, keys_now.get)
        except BaseException:
            self.give_back(taken)
            raise

    async def take(self, caller: Caller) -> Taken:
        """One request of the tenant's month: from this instance's block, else the store."""
        tenant, month = caller.owner.tenant_id, metering.month_of(self.clock.now())
        block = self.blocks.get((tenant, month))
        if block is not None and block.left > 0:
            block.left -= 1
            block.used_at = time.monotonic()
            return Taken(tenant, month, block.shard, from_block=True)
        hint = self.remaining_hint.get(tenant, 0)
        # Near the limit (or not known yet): exactly one, so N parallel requests with k left
        # forward exactly k. With plenty left: a block, so most requests need no commit.
        want = min(BLOCK_MAX, hint // 64) if hint > BLOCK_ABOVE else 1
        limit = caller.plan.limits.llm_requests_per_month
        reserving = asyncio.ensure_future(
            self.run(metering.reserve, tenant, month, limit, max(1, want))
        )
        try:
            reservation = await asyncio.shield(reserving)
        except asyncio.CancelledError:
            # The client left while the commit was under way: give back whatever it took.
            reserving.add_done_callback(self._give_back_unused)
            raise
        self.remaining_hint[tenant] = reservation.remaining if reservation else 0
        if reservation is None:
            raise self.limit_error(caller)
        if reservation.count > 1:
            self.blocks[(tenant, month)] = Block(reservation.shard, reservation.count - 1)
            return Taken(tenant, month, reservation.shard, from_block=True)
        return Taken(tenant, month, reservation.shard, from_block=False)

    def _give_back_unused(self, reserving: asyncio.Future[metering.Reservation | None]) -> None:
        if reserving.cancelled() or reserving.exception() is not None:
            return
        r = reserving.result()
        if r is not None:
            self.later(metering.release, r.tenant_id, r.month, r.shard, r.count)

    def give_back(self, taken: Taken) -> None:
        block = self.blocks.get((taken.tenant_id, taken.month))
        if taken.from_block and block is not None and block.shard == taken.shard:
            block.left += 1
        else:
            self.later(metering.release, taken.tenant_id, taken.month, taken.shard, 1)

    def return_blocks(self, idle_seconds: float = 0.0) -> None:
        """Give the store back what blocks idle for ``idle_seconds`` did not use."""
        now = time.monotonic()
        for (tenant, month), block in list(self.blocks.items()):
            if now - block.used_at >= idle_seconds:
                del self.blocks[(tenant, month)]
                self.later(metering.release, tenant, month, block.shard, block.left)

    def settle(self, caller: Caller, model: Model, usage: dict[str, Any]) -> None:
        """Add a served request to the next usage write (one transaction per flush)."""
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        served = metering.Usage(1, prompt, completion, model.cost_micro_usd(prompt, completion))
        owner = caller.owner
        now = self.clock.now()
        key = (owner.tenant_id, owner.user_id, model.id, metering.day_of(now))
        previous = self.pending_usage.get(key)
        self.pending_usage[key] = metering.add_usage(previous, served) if previous else served
        self.pending_moment[key] = now

    def flush_usage(self) -> None:
        if not self.pending_usage:
            return
        batch, self.pending_usage = self.pending_usage, {}
        moments, self.pending_moment = self.pending_moment, {}
        self.later(
            metering.record_many,
            {(t, u, m, moments[(t, u, m, d)]): v for (t, u, m, d), v in batch.items()},
        )

    async def housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self.settings.usage_flush_seconds)
            self.flush_usage()
            self.return_blocks(self.settings.block_idle_seconds)


@dataclass(frozen=True)
class Taken:
    tenant_id: str
    month: str
    shard: int
    from_block: bool


@dataclass
class Block:
    shard: int
    left: int
    used_at: float = field(default_factory=time.monotonic)


GATEWAY = web.AppKey("gateway", Gateway)


def error_response(error: LlmError) -> web.Response:
    return web.json_response(error.body(), status=error.status, headers=error.headers)


def _bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise LlmError(401, "missing_api_key", "send the workspace's LLM key as a Bearer token")
    if not token.startswith(keys.PREFIX) and token.count(".") == 2:
        raise LlmError(
            401,
            "platform_token_refused",
            "platform access tokens are not accepted here; use the workspace's LLM key",
        )
    return token


async def _read_body(request: web.Request, limit: int) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > limit:
        raise LlmError(413, "payload_too_large", f"the request body is over {limit} bytes")
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise LlmError(413, "payload_too_large", f"the request body is over {limit} bytes")
    try:
        body = json.loads(raw)
    except ValueError:
        raise LlmError(400, "invalid_json", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise LlmError(400, "invalid_request", "the request body must be a JSON object")
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise LlmError(400, "invalid_request", "messages: a non-empty list is required")
    return body


async def models(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    try:
        caller = await gw.caller(_bearer(request))
    except LlmError as error:
        return error_response(error)
    available = await gw.provider_keys()
    data = [
        {
            "id": m.id,
            "object": "model",
            "created": 0,
            "owned_by": m.provider,
            "context_window": m.context,
            "max_output_tokens": m.max_output,
        }
        for m in MODELS.values()
        if caller.plan.name in m.plans and m.provider in available
    ]
    return web.json_response({"object": "list", "data": data})


async def chat_completions(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    try:
        presented = _bearer(request)
        body = await _read_body(request, gw.settings.max_body_bytes)
        caller = await gw.caller(presented)
        chain = await gw.usable_chain(caller, body.get("model"))
        opened = await gw.admit(caller, chain, body)
    except LlmError as error:
        return error_response(error)
    # Committed from here: the request counts, whatever happens next.
    usage: dict[str, Any] = {}
    try:
        if not body.get("stream"):
            return whole_answer(opened, usage)
        return await relay_stream(request, opened, body, usage)
    finally:
        opened.close()
        gw.settle(caller, opened.model, usage)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "function": "llm"})


def create_app(gateway: Gateway) -> web.Application:
    app = web.Application(client_max_size=gateway.settings.max_body_bytes)
    app[GATEWAY] = gateway

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
        gateway.session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
        chores = asyncio.ensure_future(gateway.housekeeping())
        yield
        chores.cancel()
        gateway.flush_usage()
        gateway.return_blocks()
        await gateway.session.close()
        if gateway._background:
            await asyncio.wait(list(gateway._background), timeout=5)
        gateway.pool.shutdown(wait=False)

    app.cleanup_ctx.append(session_ctx)
    for prefix in ("/api/llm/v1", "/v1"):
        app.router.add_get(f"{prefix}/models", models)
        app.router.add_post(f"{prefix}/chat/completions", chat_completions)
    app.router.add_get("/healthz", healthz)
    return app


def runner_kwargs() -> dict[str, Any]:
    # A client that disconnects cancels its handler, and with it the upstream call.
    return {"handler_cancellation": True, "access_log": None, "shutdown_timeout": 5.0}
