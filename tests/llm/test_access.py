"""Who may call: workspace keys only (wrong, revoked, deleted workspace's, other tenant's), the
plan's models, providers without a key, and the monthly limit under 200 concurrent requests."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from typing import Any

import openai
import pytest

from devstack.llm import LocalGateway
from shared.llm import keys, metering
from shared.llm.catalog import PROVIDERS
from tests.llm.conftest import Workspace, client, make_workspace, set_plan


def month(services: Any) -> str:
    return metering.month_of(services.clock.now())


def used(services: Any, tenant_id: str) -> int:
    return int(services.db.transact(metering.monthly_requests, tenant_id, month(services)))


def ask(llm: openai.OpenAI, model: str = "gpt-4o-mini", prompt: str = "hi [chunks:2]") -> Any:
    return llm.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}])


def error_of(raised: pytest.ExceptionInfo[openai.APIStatusError]) -> dict[str, Any]:
    body: Any = raised.value.body
    assert set(body) >= {"message", "type", "code"}
    return body


@pytest.mark.parametrize(
    "presented",
    ["cdt_llm_0123456789abcdef01234567_notthemac", "sk-something-else", "cdt_llm_short"],
)
def test_wrong_key_is_refused(gateway: LocalGateway, workspace: Workspace, presented: str) -> None:
    with pytest.raises(openai.AuthenticationError) as raised:
        ask(client(gateway, presented))
    assert error_of(raised)["code"] == "invalid_api_key"
    assert raised.value.body and error_of(raised)["type"] == "authentication_error"


def test_platform_access_token_is_refused(
    gateway: LocalGateway, workspace: Workspace, services: Any
) -> None:
    access_token = workspace.headers["Authorization"].split()[1]
    with pytest.raises(openai.AuthenticationError) as raised:
        ask(client(gateway, access_token))
    assert error_of(raised)["code"] == "platform_token_refused"
    with pytest.raises(openai.AuthenticationError):
        client(gateway, access_token).models.list()


def test_revoked_key_is_refused_and_reissue_rotates(
    llm: openai.OpenAI, gateway: LocalGateway, workspace: Workspace, services: Any
) -> None:
    assert ask(llm).choices
    w = workspace
    assert services.db.transact(keys.revoke_workspace_key, w.tenant_id, w.user_id, w.workspace_id)
    # This instance read the key a moment ago: it reads it again once its cache time is up.
    assert ask(llm).choices
    services.clock.advance(gateway.gateway.settings.key_cache_seconds + 0.1)
    with pytest.raises(openai.AuthenticationError):
        ask(llm)
    secret = keys.derivation_secret(services.secrets, generate_if_missing=False)
    fresh = services.db.transact(
        keys.issue_workspace_key, secret, w.tenant_id, w.user_id, w.workspace_id, 0.0
    )
    assert fresh != w.key and ask(client(gateway, fresh)).choices
    rederived = services.db.transact(
        keys.workspace_key, secret, w.tenant_id, w.user_id, w.workspace_id
    )
    assert rederived == fresh  # what the provisioner writes into the pod
    raw_store = repr(services.db.transact(lambda tr: tr.get_range(b"", b"\xff")))
    assert fresh not in raw_store  # only its SHA-256 is stored


def test_deleted_workspace_key_is_refused(
    llm: openai.OpenAI, workspace: Workspace, api: Any
) -> None:
    # Never used before its workspace went: nothing cached, refused at once.
    deleted = api.delete(f"/api/workspaces/{workspace.workspace_id}", headers=workspace.headers)
    assert deleted.status_code == 202
    with pytest.raises(openai.AuthenticationError):
        ask(llm)


def test_other_workspaces_key_meters_its_own_tenant_only(
    llm: openai.OpenAI, gateway: LocalGateway, workspace: Workspace, services: Any, api: Any
) -> None:
    other = make_workspace(api, services, "grace@example.com")
    ask(client(gateway, other.key))
    ask(client(gateway, other.key))
    ask(llm)
    assert used(services, other.tenant_id) == 2
    assert used(services, workspace.tenant_id) == 1


def test_model_outside_the_plan_is_refused_until_upgrade(
    llm: openai.OpenAI, workspace: Workspace, services: Any
) -> None:
    with pytest.raises(openai.PermissionDeniedError) as raised:
        ask(llm, "claude-opus-4")
    assert error_of(raised)["code"] == "model_not_in_plan"
    assert "upgrade" in error_of(raised)["message"]
    with pytest.raises(openai.NotFoundError):
        ask(llm, "gpt-5-imaginary")
    set_plan(services, workspace.tenant_id, "pro")
    assert ask(llm, "claude-opus-4").choices[0].message.content == "The quick "
    assert "claude-opus-4" in {m.id for m in llm.models.list()}
    assert used(services, workspace.tenant_id) == 1  # refusals are not counted


def test_provider_without_a_key_is_absent(
    llm: openai.OpenAI, gateway: LocalGateway, services: Any, workspace: Workspace
) -> None:
    set_plan(services, workspace.tenant_id, "starter")  # grok-3-mini is a paid model
    shutil.rmtree(os.path.join(services.settings.data_dir, "secrets", PROVIDERS["xai"].secret))
    gateway.gateway._provider_keys = (0.0, {})  # forget the cached keys
    ids = {m.id for m in llm.models.list()}
    assert "grok-3-mini" not in ids and "deepseek-chat" in ids
    with pytest.raises(openai.NotFoundError):
        ask(llm, "grok-3-mini")


def test_monthly_limit_holds_under_200_concurrent_requests(
    gateway: LocalGateway, workspace: Workspace, services: Any, api: Any
) -> None:
    # The free plan allows 100 a month: use 90 of them.
    for _ in range(90):
        assert services.db.transact(metering.reserve, workspace.tenant_id, month(services), 100)
    marker = "[chunks:2] concurrency"
    llm = openai.AsyncOpenAI(
        api_key=workspace.key, base_url=f"{gateway.url}/api/llm/v1", max_retries=0, timeout=60
    )

    async def one() -> Any:
        try:
            raw = await llm.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": marker}]
            )
            return raw.parse()
        except openai.RateLimitError as error:
            return error

    async def all_of_them() -> list[Any]:
        return await asyncio.gather(*(one() for _ in range(200)))

    results = asyncio.run(all_of_them())
    served = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, openai.RateLimitError)]
    assert len(served) == 10 and len(refused) == 190
    assert gateway.standins.openai_log.forwarded(marker) == 10
    first = refused[0]
    assert first.status_code == 429 and int(first.response.headers["Retry-After"]) > 0
    assert first.body["code"] == "monthly_limit_reached"  # type: ignore[index]
    assert "100" in first.body["message"]  # type: ignore[index]
    assert used(services, workspace.tenant_id) == 100
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        rows = services.db.transact(metering.usage_rows, workspace.tenant_id, month(services))
        if sum(r.usage.requests for r in rows) == 10:
            break
        time.sleep(0.05)
    assert sum(r.usage.requests for r in rows) == 10
    me = api.get("/api/auth/me", headers=workspace.headers).get_json()
    assert me["usage"]["llm_requests"] == 10  # requests served (the 90 were reserved directly)


def test_busy_tenant_reserves_blocks_and_returns_what_it_did_not_use(
    llm: openai.OpenAI, gateway: LocalGateway, workspace: Workspace, services: Any
) -> None:
    set_plan(services, workspace.tenant_id, "pro")
    for _ in range(40):
        ask(llm)
    held = used(services, workspace.tenant_id)
    assert 40 < held <= 40 + 32  # a block is held by this instance, not a commit per request
    commits_before = held
    gateway.loop.run(_return_blocks(gateway))
    deadline = time.monotonic() + 5
    while used(services, workspace.tenant_id) != 40 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert used(services, workspace.tenant_id) == 40 <= commits_before


async def _return_blocks(gateway: LocalGateway) -> None:
    gateway.gateway.return_blocks()
