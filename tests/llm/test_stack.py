"""`make dev`'s stack: a workspace created through the origin has an LLM key, and that key works
against http://<origin>/api/llm/v1 with the official openai client (the stack's own routing)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import requests

from devstack.settings import DevstackSettings
from devstack.stack import LocalStack, _component
from shared.llm import keys
from tests.conftest import free_port


@pytest.fixture
def stack(settings: Any) -> Iterator[LocalStack]:
    port = free_port()
    running = LocalStack(
        dataclasses.replace(settings, public_url=f"http://127.0.0.1:{port}"),
        port=port,
        dev=DevstackSettings(web_build=False),
        components=[_component("devstack.llm", "start")],
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_a_workspace_key_works_through_the_local_origin(stack: LocalStack) -> None:
    origin = stack.url
    assert stack.llm_gateway_url and any("LLM gateway" in line for line in stack.started)
    signup = requests.post(
        f"{origin}/api/auth/register",
        json={"email": "ada@example.com", "password": "correct horse battery"},
        timeout=10,
    ).json()
    auth = {"Authorization": f"Bearer {signup['access_token']}"}
    created = requests.post(
        f"{origin}/api/workspaces", json={"name": "main"}, headers=auth, timeout=10
    )
    assert created.status_code == 202, created.text
    wid = created.json()["workspace"]["workspace_id"]
    user = signup["user"]
    svc = stack.services
    assert svc is not None
    # The key issued with the workspace, as the provisioner re-derives it for Theia's settings.
    key = svc.db.transact(
        keys.workspace_key, svc.llm_key_secret(), user["tenant_id"], user["user_id"], wid
    )
    assert key is not None
    llm = openai.OpenAI(base_url=svc.settings.llm_public_url, api_key=key, max_retries=0)
    assert svc.settings.llm_public_url == f"{origin}/api/llm/v1"
    assert "gpt-4o-mini" in {m.id for m in llm.models.list()}
    text = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in llm.chat.completions.create(
            model="claude-3-5-haiku",
            stream=True,
            messages=[{"role": "user", "content": "hello"}],
        )
        if chunk.choices
    )
    assert text
    usage = requests.get(f"{origin}/api/llm/usage", headers=auth, timeout=10)
    assert usage.status_code == 200 and usage.json()["used"] >= 1
    # A platform access token is not an LLM key.
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url=f"{origin}/api/llm/v1", api_key=signup["access_token"], max_retries=0
        ).models.list()
    # Deleting the workspace revokes the key: refused once the gateway's cache time is up.
    assert requests.delete(f"{origin}/api/workspaces/{wid}", headers=auth, timeout=10).ok
    deadline = time.monotonic() + svc.settings.llm.key_cache_seconds + 5
    while True:
        try:
            llm.models.list()
        except openai.AuthenticationError:
            break
        assert time.monotonic() < deadline, "the deleted workspace's key still works"
        time.sleep(0.25)
