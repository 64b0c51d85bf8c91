"""The workspace API: validation, names, plan limits, isolation, launch and the heartbeat."""

from __future__ import annotations

import base64

import pytest

from shared.accounts.licenses import write_license
from tests.workspaces.conftest import User, wait_status


def set_plan(services, user: User, plan: str) -> None:
    services.db.transact(
        lambda tr: write_license(
            tr,
            user.tenant_id,
            services.clock.now(),
            plan=plan,
            status="active",
            action="test",
            reason="test",
        )
    )


def error(response) -> tuple[int, str]:
    return response.status_code, response.get_json()["error"]["code"]


@pytest.fixture
def recorded(services):
    """Every reconcile message published, as the provisioner would receive it."""
    from shared.events import RECONCILE_TOPIC, decode_event

    seen: list[dict] = []
    services.events.subscribe(
        RECONCILE_TOPIC, lambda e: seen.append(decode_event(e).data), name="rec"
    )
    return seen


def test_create_validates_and_authenticates(services, make_user, api):
    user = make_user()
    assert error(api.post("/api/workspaces", json={"name": "x"})) == (401, "unauthorized")
    bad = {"Authorization": "Bearer not-a-token"}
    assert error(api.post("/api/workspaces", json={"name": "x"}, headers=bad)) == (
        401,
        "invalid_token",
    )
    for body in (
        {},
        {"name": ""},
        {"name": "-x"},
        {"name": "a/b"},
        {"name": "x" * 64},
        {"name": "ok", "extra": 1},
    ):
        assert error(api.post("/api/workspaces", json=body, headers=user.headers))[0] == 422, body
    raw = api.post("/api/workspaces", data="name=x", headers=user.headers)
    assert error(raw) == (415, "unsupported_media_type")
    assert api.get("/api/workspaces", headers=user.headers).get_json() == {"workspaces": []}


def test_create_answers_202_and_publishes_once(services, make_user, recorded):
    user = make_user()
    response = user.create("Main")
    assert response.status_code == 202
    ws = response.get_json()["workspace"]
    assert ws["name"] == "Main" and ws["status"] == "pending" and ws["url"] is None
    assert ws["progress"][0]["message"] == "workspace requested"
    services.events.drain()
    assert recorded == [
        {
            "tenant_id": user.tenant_id,
            "workspace_id": ws["workspace_id"],
            "reason": "create",
            "user_id": user.user_id,
            "generation": 1,
        }
    ]


def test_names_are_unique_per_user_case_insensitively(services, make_user):
    set_plan(services, first := make_user(), "pro")
    assert first.create("dev").status_code == 202
    assert error(first.create("DEV")) == (409, "name_taken")
    other = make_user()
    assert other.create("dev").status_code == 202  # another user's names are theirs


def test_name_is_free_again_once_deleted(services, make_user):
    user = make_user()
    wid = user.create("dev").get_json()["workspace"]["workspace_id"]
    assert user.delete(wid).status_code == 202
    assert user.create("dev").status_code == 202


def test_free_plan_allows_one_running_workspace(services, make_user):
    user = make_user()
    wid = user.create("one").get_json()["workspace"]["workspace_id"]
    assert error(user.create("two")) == (403, "plan_limit")
    # Stopped, it still holds the plan's 1 GB of storage.
    assert user.post(wid, "stop").status_code == 202
    assert error(user.create("two")) == (403, "plan_limit")
    assert [
        w["name"]
        for w in user.api.get("/api/workspaces", headers=user.headers).get_json()["workspaces"]
    ] == ["one"]


def test_starter_plan_allows_three(services, make_user):
    user = make_user()
    set_plan(services, user, "starter")
    for name in ("a", "b", "c"):
        assert user.create(name).status_code == 202
    assert error(user.create("d")) == (403, "plan_limit")


def test_start_checks_the_running_limit_after_a_downgrade(services, make_user):
    user = make_user()
    set_plan(services, user, "pro")
    ids = [user.create(n).get_json()["workspace"]["workspace_id"] for n in ("a", "b")]
    for wid in ids:
        assert user.post(wid, "stop").status_code == 202
    set_plan(services, user, "free")
    assert user.post(ids[0], "start").status_code == 202
    assert error(user.post(ids[1], "start")) == (403, "plan_limit")
    assert user.workspace(ids[1])["desired_state"] == "stopped"  # nothing changed


def test_another_users_workspace_is_not_found_for_every_verb(services, make_user, recorded):
    owner, intruder = make_user(), make_user()
    wid = owner.create("mine").get_json()["workspace"]["workspace_id"]
    services.events.drain()
    before = owner.workspace(wid)
    checks = [
        intruder.get(wid),
        intruder.post(wid, "stop"),
        intruder.post(wid, "start"),
        intruder.post(wid, "launch"),
        intruder.delete(wid),
    ]
    for response in checks:
        assert error(response) == (404, "workspace_not_found")
    assert intruder.api.get("/api/workspaces", headers=intruder.headers).get_json() == {
        "workspaces": []
    }
    assert owner.workspace(wid) == before
    services.events.drain()
    assert len(recorded) == 1  # only the owner's create


def test_unknown_id_and_method(services, make_user):
    user = make_user()
    assert error(user.get("0" * 32)) == (404, "workspace_not_found")
    assert user.api.put("/api/workspaces/abc", headers=user.headers).status_code == 405


def test_repeated_stop_is_idempotent_and_republishes(services, make_user, recorded):
    user = make_user()
    wid = user.create("w").get_json()["workspace"]["workspace_id"]
    first = user.post(wid, "stop").get_json()["workspace"]
    second = user.post(wid, "stop").get_json()["workspace"]
    assert first["status"] == second["status"] == "stopping"
    services.events.drain()
    gens = [m["generation"] for m in recorded]
    assert gens == [1, 2, 2]


def test_deleted_workspace_cannot_be_started(services, make_user):
    user = make_user()
    wid = user.create("w").get_json()["workspace"]["workspace_id"]
    assert user.delete(wid).status_code == 202
    assert error(user.post(wid, "start")) == (409, "workspace_deleted")


def test_launch_only_when_ready(platform, make_user, services):
    user = make_user()
    wid = user.create("w").get_json()["workspace"]["workspace_id"]
    wait_status(user, wid, "ready")
    user.post(wid, "stop")
    assert error(user.post(wid, "launch")) == (409, "workspace_not_ready")
    wait_status(user, wid, "stopped")
    assert error(user.post(wid, "launch")) == (409, "workspace_not_ready")
    user.post(wid, "start")
    wait_status(user, wid, "ready")
    response = user.post(wid, "launch")
    assert response.status_code == 200
    url = response.get_json()["url"]
    prefix = f"https://ws-{wid}.ws.test/__coditect/launch?token="
    assert url.startswith(prefix)
    claims = services.tokens.verify(url[len(prefix) :], aud=f"workspace:{wid}", typ="launch")
    assert claims["sub"] == user.user_id and claims["tid"] == user.tenant_id
    assert claims["exp"] - claims["iat"] == 60


def test_workspace_token_is_for_that_workspace_host_only(platform, make_user, services):
    user, other = make_user(), make_user()
    wid = user.create("w").get_json()["workspace"]["workspace_id"]
    wait_status(user, wid, "ready")
    response = user.post(wid, "token")
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    claims = services.tokens.verify(body["token"], aud=f"workspace:{wid}", typ="workspace")
    assert (claims["sub"], claims["tid"]) == (user.user_id, user.tenant_id)
    # Not a platform access token, and nobody else's workspace.
    from shared.errors import Unauthorized

    with pytest.raises(Unauthorized):
        services.tokens.verify(body["token"], aud=services.settings.api_audience, typ="access")
    assert error(other.post(wid, "token")) == (404, "workspace_not_found")
    user.post(wid, "stop")
    wait_status(user, wid, "stopped")
    assert error(user.post(wid, "token")) == (409, "workspace_not_ready")


def activity_credential(kube, user: User, wid: str) -> str:
    secret = kube.core.read_namespaced_secret(f"ws-{wid}-secrets", f"u-{user.user_id}")
    return base64.b64decode(secret.data["activity-token"]).decode()


def beat(api, wid: str, credential: str, at: str):
    return api.post(
        f"/api/workspaces/{wid}/activity",
        json={"last_active": at},
        headers={"Authorization": f"Bearer {credential}"},
    )


def test_heartbeat_with_the_workspace_credential(platform, make_user, kube, clock, api):
    from shared.clock import isoformat

    user = make_user()
    wid = user.create("w").get_json()["workspace"]["workspace_id"]
    wait_status(user, wid, "ready")
    credential = activity_credential(kube, user, wid)
    now = clock.now()

    assert beat(api, wid, credential, isoformat(now - 10)).status_code == 200
    assert user.workspace(wid)["last_active"] == isoformat(now - 10)
    # At most one write a minute, and never backwards.
    assert beat(api, wid, credential, isoformat(now)).status_code == 200
    assert beat(api, wid, credential, isoformat(now - 3600)).status_code == 200
    assert user.workspace(wid)["last_active"] == isoformat(now - 10)
    clock.advance(120)
    assert beat(api, wid, credential, isoformat(clock.now())).status_code == 200
    assert user.workspace(wid)["last_active"] == isoformat(clock.now())

    # The user's own token, a wrong credential, or a future time are refused; unknown id: 404.
    assert error(beat(api, wid, user.body["access_token"], isoformat(now))) == (
        401,
        "invalid_credential",
    )
    assert error(beat(api, wid, "x" * 43, isoformat(now))) == (401, "invalid_credential")
    assert error(beat(api, "f" * 32, credential, isoformat(now))) == (404, "workspace_not_found")
    assert error(beat(api, wid, credential, isoformat(clock.now() + 3600))) == (
        422,
        "invalid_last_active",
    )
    assert beat(api, wid, credential, "yesterday").status_code == 422
    no_auth = api.post(f"/api/workspaces/{wid}/activity", json={"last_active": isoformat(now)})
    assert no_auth.status_code == 401


def test_one_workspace_credential_does_not_open_another(platform, make_user, kube, clock, api):
    from shared.clock import isoformat

    first, second = make_user(), make_user()
    a = first.create("a").get_json()["workspace"]["workspace_id"]
    b = second.create("b").get_json()["workspace"]["workspace_id"]
    wait_status(first, a, "ready")
    wait_status(second, b, "ready")
    credential_a = activity_credential(kube, first, a)
    assert error(beat(api, b, credential_a, isoformat(clock.now()))) == (401, "invalid_credential")
    assert second.workspace(b)["last_active"] is None
