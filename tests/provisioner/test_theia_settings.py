"""Theia's settings Secret in every workspace pod: the plan's models through the LLM gateway with
the workspace's own key, renewed when the plan changes, and the key dead after a delete."""

from __future__ import annotations

import base64
import json
from typing import Any

import openai
import pytest

from shared.accounts.licenses import write_license
from shared.llm import keys
from tests.llm.conftest import client, gateway  # noqa: F401  (the gateway on a real socket)
from tests.provisioner.test_reconciler import ids, new_workspace


def theia_secret(kube: Any, user: Any, wid: str) -> dict[str, Any] | None:
    for secret in kube.server.objects("secrets", f"u-{user.user_id}"):
        if secret["metadata"]["name"] == f"ws-{wid}-secrets":
            return secret
    return None


def theia_settings(kube: Any, user: Any, wid: str) -> dict[str, Any]:
    secret = theia_secret(kube, user, wid)
    assert secret is not None, "no Theia settings Secret"
    settings: dict[str, Any] = json.loads(base64.b64decode(secret["data"]["settings.json"]))
    return settings


def offered(settings: dict[str, Any]) -> set[str]:
    return {m["model"] for m in settings["ai-features.openAiCustom.customOpenAiModels"]}


def the_key(settings: dict[str, Any]) -> str:
    found = {m["apiKey"] for m in settings["ai-features.openAiCustom.customOpenAiModels"]}
    assert len(found) == 1
    return found.pop()


def set_plan(services: Any, tenant_id: str, plan: str) -> None:
    now = services.clock.now()
    services.db.transact(
        lambda tr: write_license(
            tr, tenant_id, now, plan=plan, status="active", action="test", reason="test"
        )
    )


def test_the_pod_mounts_theia_settings_with_the_gateway_and_the_workspace_key(
    services, make_user, make_reconciler, kube
):
    user, wid = new_workspace(make_user)
    assert make_reconciler()[0].reconcile(*ids(user, wid)) == "ready"
    settings = theia_settings(kube, user, wid)
    models = settings["ai-features.openAiCustom.customOpenAiModels"]
    assert {m["url"] for m in models} == {services.settings.llm_public_url}
    assert services.settings.llm_public_url == f"{services.settings.issuer}/api/llm/v1"
    assert "claude-opus-4" not in offered(settings) and "gpt-4.1-mini" in offered(settings)
    assert settings["ai-features.chat.defaultChatAgent"] == "Coditect"
    # The key in the pod is the one issued with the workspace: it names this workspace only.
    owner = services.db.transact(lambda tr: keys.lookup_key(tr, the_key(settings)))
    assert owner == keys.KeyOwner(user.tenant_id, user.user_id, wid)
    pod = kube.server.objects("pods", f"u-{user.user_id}")[0]
    theia = pod["spec"]["containers"][0]
    mount = next(m for m in theia["volumeMounts"] if m["name"] == "theia-settings")
    assert mount == {"name": "theia-settings", "mountPath": "/etc/coditect/theia", "readOnly": True}
    assert "subPath" not in mount  # a whole directory: a replaced Secret reaches the volume
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "theia-settings")
    # The workspace's Secret, settings.json alone: Theia never sees the sidecar's credential.
    assert volume["secret"]["secretName"] == f"ws-{wid}-secrets"
    assert volume["secret"]["items"] == [{"key": "settings.json", "path": "settings.json"}]


def test_a_plan_change_rewrites_the_settings_at_the_next_converge(
    services, make_user, make_reconciler, kube
):
    user, wid = new_workspace(make_user)
    reconciler = make_reconciler()[0]
    assert reconciler.reconcile(*ids(user, wid)) == "ready"
    before = theia_settings(kube, user, wid)
    set_plan(services, user.tenant_id, "pro")
    # A running workspace re-converged (the resync sweep, or a start) gets the new plan's models.
    assert reconciler.reconcile(*ids(user, wid), resync=True) == "ready"
    after = theia_settings(kube, user, wid)
    assert "claude-opus-4" in offered(after) and "claude-opus-4" not in offered(before)
    aliases = after["ai-features.languageModelAliases"]
    assert aliases["default/code"]["selectedModel"] == "coditect/claude-sonnet-4"
    assert the_key(after) == the_key(before)  # the same workspace key, re-derived
    # And back down: the Secret is replaced whole, nothing of the old plan stays.
    set_plan(services, user.tenant_id, "free")
    user.post(wid, "stop")
    assert reconciler.reconcile(*ids(user, wid)) == "stopped"
    user.post(wid, "start")
    assert reconciler.reconcile(*ids(user, wid)) == "ready"
    assert offered(theia_settings(kube, user, wid)) == offered(before)


def test_a_workspace_without_a_key_is_issued_one(services, make_user, make_reconciler, kube):
    user, wid = new_workspace(make_user)
    # As a workspace made before LLM keys existed.
    assert services.db.transact(keys.revoke_workspace_key, *ids(user, wid))
    assert make_reconciler()[0].reconcile(*ids(user, wid)) == "ready"
    key = the_key(theia_settings(kube, user, wid))
    assert services.db.transact(lambda tr: keys.lookup_key(tr, key)) is not None


def test_delete_revokes_the_key_and_the_gateway_refuses_it(
    services,
    make_user,
    make_reconciler,
    kube,
    gateway,  # noqa: F811
):
    user, wid = new_workspace(make_user)
    reconciler = make_reconciler()[0]
    assert reconciler.reconcile(*ids(user, wid)) == "ready"
    key = the_key(theia_settings(kube, user, wid))
    llm = client(gateway, key)
    answer = llm.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
    )
    assert answer.choices[0].message.content
    assert user.delete(wid).status_code == 202
    # The key is revoked in the delete's own transaction, before the pod goes; a gateway that
    # read it moments ago refuses it once its key cache time is up.
    services.clock.advance(services.settings.llm.key_cache_seconds + 0.1)
    with pytest.raises(openai.AuthenticationError) as refused:
        llm.models.list()
    assert refused.value.status_code == 401
    assert services.db.transact(lambda tr: keys.lookup_key(tr, key)) is None
    assert reconciler.reconcile(*ids(user, wid)) == "deleted"
    assert theia_secret(kube, user, wid) is None
