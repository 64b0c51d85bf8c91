"""Fixtures for the LLM gateway: the provider stand-ins and the gateway on real sockets, a user
with a workspace and that workspace's LLM key, and the official ``openai`` client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from devstack.llm import LocalGateway, run_gateway
from shared.accounts.licenses import write_license
from shared.llm import keys
from tests.conftest import bearer, register


@pytest.fixture
def gateway(services: Any) -> Iterator[LocalGateway]:
    running = run_gateway(services)
    yield running
    running.stop()


@dataclass
class Workspace:
    tenant_id: str
    user_id: str
    workspace_id: str
    key: str
    headers: dict[str, str]  # the user's platform access token


def make_workspace(api: Any, services: Any, email: str, name: str = "main") -> Workspace:
    body = register(api, email=email)
    created = api.post("/api/workspaces", json={"name": name}, headers=bearer(body))
    assert created.status_code == 202, created.get_data(as_text=True)
    user = body["user"]
    wid = created.get_json()["workspace"]["workspace_id"]
    secret = keys.derivation_secret(services.secrets, generate_if_missing=True)
    key = services.db.transact(
        keys.issue_workspace_key,
        secret,
        user["tenant_id"],
        user["user_id"],
        wid,
        services.clock.now(),
    )
    return Workspace(user["tenant_id"], user["user_id"], wid, key, bearer(body))


def set_plan(services: Any, tenant_id: str, plan: str) -> None:
    services.db.transact(
        lambda tr: write_license(
            tr,
            tenant_id,
            services.clock.now(),
            plan=plan,
            status="active",
            action="test",
            reason="test",
        )
    )
    # A plan change reaches a gateway instance within its key cache time.
    services.clock.advance(services.settings.llm.key_cache_seconds + 0.1)


@pytest.fixture
def workspace(api: Any, services: Any) -> Workspace:
    return make_workspace(api, services, "ada@example.com")


def client(gateway: LocalGateway, key: str, timeout: float = 20) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=key, base_url=f"{gateway.url}/api/llm/v1", max_retries=0, timeout=timeout
    )


@pytest.fixture
def llm(gateway: LocalGateway, workspace: Workspace) -> openai.OpenAI:
    return client(gateway, workspace.key)
