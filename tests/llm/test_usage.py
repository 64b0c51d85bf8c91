"""GET /api/llm/usage through the real ``llm`` function, and Theia's settings for a pod."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import kubernetes_validate
import openai
from werkzeug.test import Client

from devstack.stack import load_function
from shared.llm import metering
from shared.llm.catalog import MODELS
from shared.llm.theia_settings import models_for_plan, render_settings
from shared.provisioner.objects import make_workspace_secret
from tests.llm.conftest import Workspace


def usage_api() -> Client:
    return Client(load_function("llm"))


def test_usage_by_model_and_day_with_limit_and_remaining(
    llm: openai.OpenAI, workspace: Workspace, services: Any
) -> None:
    for model in ("gpt-4o-mini", "gpt-4o-mini", "claude-3-5-haiku"):
        llm.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "x [chunks:3]"}]
        )
    period = metering.month_of(services.clock.now())
    api = usage_api()
    deadline = time.monotonic() + 5
    while True:
        reply = api.get(f"/api/llm/usage?period={period}", headers=workspace.headers)
        body = reply.get_json()
        if sum(m["requests"] for m in body["by_model"]) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert reply.status_code == 200
    assert body["plan"] == "free" and body["limit"] == 100
    assert body["used"] == 3 and body["remaining"] == 97
    by_model = {m["model"]: m for m in body["by_model"]}
    assert by_model["gpt-4o-mini"]["requests"] == 2
    assert by_model["gpt-4o-mini"]["output_tokens"] == 6
    assert by_model["claude-3-5-haiku"]["cost_usd"] > 0
    assert body["by_day"][0]["day"] == metering.day_of(services.clock.now())
    assert body["by_day"][0]["requests"] == 3
    # Without a period: the current month.
    assert api.get("/api/llm/usage", headers=workspace.headers).get_json()["used"] == 3


def test_usage_needs_the_users_access_token(workspace: Workspace) -> None:
    api = usage_api()
    assert api.get("/api/llm/usage").status_code == 401
    with_key = api.get("/api/llm/usage", headers={"Authorization": f"Bearer {workspace.key}"})
    assert with_key.status_code == 401
    bad = api.get("/api/llm/usage?period=2026-13", headers=workspace.headers)
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_period"


def test_theia_settings_name_every_plan_model_with_gateway_and_key() -> None:
    url, key = "https://coditect.example/api/llm/v1", "cdt_llm_abc_def"
    settings = render_settings(models_for_plan("free"), url, key)
    custom = settings["ai-features.openAiCustom.customOpenAiModels"]
    assert settings["ai-features.AiEnable.enableAI"] is True
    assert {c["model"] for c in custom} == {m.id for m in MODELS.values() if "free" in m.plans}
    assert all(c["url"] == url and c["apiKey"] == key for c in custom)
    aliases = settings["ai-features.languageModelAliases"]
    assert aliases["default/code"]["selectedModel"] == "coditect/gpt-4.1-mini"
    pro = render_settings(models_for_plan("pro"), url, key)["ai-features.languageModelAliases"]
    assert pro["default/code"]["selectedModel"] == "coditect/claude-sonnet-4"
    # Every alias Theia's agents use names one of the plan's models; Coditect's agent answers.
    agent_aliases = {"default/universal", "default/code", "default/code-completion"}
    for plan in ("free", "starter", "pro"):
        rendered = render_settings(models_for_plan(plan), url, key)
        named = rendered["ai-features.languageModelAliases"]
        assert agent_aliases | {"default/summarize", "default/fast"} <= set(named)
        ids = {c["id"] for c in rendered["ai-features.openAiCustom.customOpenAiModels"]}
        assert {a["selectedModel"] for a in named.values()} <= ids
        assert rendered["ai-features.chat.defaultChatAgent"] == "Coditect"
        # No session titles through the gateway: one chat message, one metered request.
        naming = rendered["ai-features.agentSettings"]["Chat Session Naming"]
        assert naming == {"enable": False}
    secret = make_workspace_secret("ws-1-secrets", "u-1", {"app": "coditect"}, "tok", settings)
    kubernetes_validate.validate(secret, "1.31", strict=True)
    assert json.loads(base64.b64decode(secret["data"]["settings.json"])) == settings
