"""Idle cleanup: stops idle workspaces (files kept), respects activity, max age and retention."""

from __future__ import annotations

import dataclasses
import json
import threading
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack.stack import load_function
from shared.clock import isoformat
from shared.workspaces import model
from shared.workspaces.idle import IdleCleanup
from shared.workspaces.scheduler_auth import SchedulerAuth
from tests.workspaces.conftest import wait_status
from tests.workspaces.test_api import activity_credential, beat, set_plan

HOUR = 3600


@pytest.fixture
def cleanup(services, ws_settings):
    def make(**changes):
        settings = dataclasses.replace(ws_settings, **changes)
        return IdleCleanup(services.db, services.events, services.clock, settings)

    return make


def ready_workspace(user, name="w"):
    wid = user.create(name).get_json()["workspace"]["workspace_id"]
    wait_status(user, wid, "ready")
    return wid


def usage(user):
    return user.api.get("/api/auth/me", headers=user.headers).get_json()["usage"]


def test_an_idle_workspace_is_stopped_and_its_files_kept(platform, make_user, cleanup, clock, kube):
    user = make_user()
    wid = ready_workspace(user)
    clock.advance(2 * HOUR - 10)
    assert cleanup().run().get("stopped_idle", 0) == 0
    clock.advance(20)
    assert cleanup().run()["stopped_idle"] == 1
    ws = wait_status(user, wid, "stopped")
    assert ws["progress"][0]["message"] == "stop requested (idle for over 120 min)"
    assert ws["delete_after"] == isoformat(clock.now() + 30 * 24 * HOUR)
    ns = f"u-{user.user_id}"
    assert kube.server.objects("pods", ns) == []
    assert len(kube.server.objects("persistentvolumeclaims", ns)) == 1
    assert usage(user)["workspace_seconds"] == 2 * HOUR + 10


def test_activity_keeps_a_workspace_running(platform, make_user, cleanup, clock, kube, api):
    user = make_user()
    wid = ready_workspace(user)
    credential = activity_credential(kube, user, wid)
    clock.advance(HOUR)
    assert beat(api, wid, credential, isoformat(clock.now())).status_code == 200
    clock.advance(HOUR + 60)
    assert cleanup().run().get("stopped_idle", 0) == 0
    assert user.workspace(wid)["status"] == "ready"
    clock.advance(HOUR)
    assert cleanup().run()["stopped_idle"] == 1


def test_activity_during_the_pass_wins(services, make_user, cleanup, clock):
    """A heartbeat that commits while the batch runs makes it conflict; the retry sees it."""
    user = make_user()
    wid = user.create("w").get_json()["workspace"]["workspace_id"]
    key = model.record_key(user.tenant_id, user.user_id, wid)

    def mark_ready(tr):
        ws = model.get(tr, user.tenant_id, user.user_id, wid)
        model.save(tr, dict(ws, status="ready", running_since=clock.now()), ws, clock.now())

    services.db.transact(mark_ready)
    clock.advance(3 * HOUR)
    job = cleanup()
    original = job._idle
    fired = []

    def idle_with_a_heartbeat_racing(tr, ws, now, plan_of):
        if not fired:
            fired.append(1)

            def beat_now():
                def write(tr2):
                    current = model.get(tr2, user.tenant_id, user.user_id, wid)
                    model.save(tr2, dict(current, last_active=now), current, now)

                services.db.transact(write)

            thread = threading.Thread(target=beat_now)
            thread.start()
            thread.join()
        return original(tr, ws, now, plan_of)

    job._idle = idle_with_a_heartbeat_racing
    assert job.run().get("stopped_idle", 0) == 0
    assert model.load(services.db.transact(lambda tr: tr.get(key)))["desired"] == "running"


def test_starting_and_stopping_workspaces_are_skipped(services, make_user, cleanup, clock):
    user = make_user()
    user.create("w")  # nobody provisions it: it stays pending
    clock.advance(10 * HOUR)
    result = cleanup().run()
    assert result.get("stopped_idle", 0) == 0 and result["candidates"] == 1


def test_per_plan_idle_time(platform, services, make_user, cleanup, clock):
    user = make_user()
    set_plan(services, user, "pro")
    wid = ready_workspace(user)
    job = cleanup(idle_seconds_by_plan={"pro": 4 * HOUR})
    clock.advance(3 * HOUR)
    assert job.run().get("stopped_idle", 0) == 0
    clock.advance(HOUR)
    assert job.run()["stopped_idle"] == 1
    wait_status(user, wid, "stopped")


def test_maximum_age_stops_even_an_active_workspace(platform, make_user, cleanup, clock, kube, api):
    user = make_user()
    wid = ready_workspace(user)
    credential = activity_credential(kube, user, wid)
    job = cleanup(max_age_seconds=3 * HOUR, idle_seconds=10 * HOUR)
    for _ in range(3):
        clock.advance(HOUR)
        beat(api, wid, credential, isoformat(clock.now()))
    assert job.run()["stopped_max_age"] == 1
    ws = wait_status(user, wid, "stopped")
    assert "running for over 3 h" in ws["progress"][0]["message"]


def test_retention_deletes_long_stopped_workspaces(platform, make_user, cleanup, clock, kube):
    user = make_user()
    wid = ready_workspace(user)
    user.post(wid, "stop")
    wait_status(user, wid, "stopped")
    clock.advance(30 * 24 * HOUR - 60)
    assert cleanup().run().get("deleted_retention", 0) == 0
    clock.advance(120)
    assert cleanup().run()["deleted_retention"] == 1
    wait_status(user, wid, "deleted")
    assert kube.server.objects("persistentvolumeclaims", f"u-{user.user_id}") == []


def test_overlapping_runs_stop_once_and_count_usage_once(
    platform, make_user, cleanup, clock, events
):
    user = make_user()
    wid = ready_workspace(user)
    clock.advance(3 * HOUR)
    results: list[dict] = []
    runs = [threading.Thread(target=lambda: results.append(cleanup().run())) for _ in range(4)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert sum(r.get("stopped_idle", 0) for r in results) == 1
    wait_status(user, wid, "stopped")
    assert usage(user)["workspace_seconds"] == 3 * HOUR


def test_the_pass_reads_only_idle_candidates(services, make_user, cleanup, clock):
    """Cost grows with the idle ones: fresh workspaces are never read."""
    users = [make_user() for _ in range(3)]
    for user in users[:2]:
        user.create("old")
    clock.advance(3 * HOUR)
    users[2].create("fresh")
    assert cleanup().run()["candidates"] == 2


# -- the Cloud Scheduler entry point ---------------------------------------------------------------
@pytest.fixture
def oidc(httpserver):
    """A local signer and JWKS standing in for Google's, checked by google-auth itself."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    httpserver.expect_request("/certs").respond_with_json(
        {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}
    )

    def sign(**claims):
        now = int(time.time())
        body = {"iss": "https://accounts.google.com", "iat": now, "exp": now + 300, **claims}
        return jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})

    def verify(token, audience):
        from google.auth.transport import requests as google_requests
        from google.oauth2 import id_token

        return id_token.verify_token(
            token, google_requests.Request(), audience, certs_url=httpserver.url_for("/certs")
        )

    return sign, verify


def test_the_function_accepts_only_the_schedulers_token(services, ws_settings, oidc):
    sign, verify = oidc
    services.replace_settings(workspaces=ws_settings)
    services.use(
        scheduler_auth=SchedulerAuth(
            "https://idle-cleanup.example", "scheduler@proj.iam.gserviceaccount.com", verify
        )
    )
    client = load_function("idle_cleanup").test_client()

    def call(token):
        return client.post("/", headers={"Authorization": f"Bearer {token}"} if token else {})

    good = sign(
        aud="https://idle-cleanup.example",
        email="scheduler@proj.iam.gserviceaccount.com",
        email_verified=True,
    )
    response = call(good)
    assert response.status_code == 200 and "result" in response.get_json()
    wrong_audience = sign(
        aud="https://other.example",
        email="scheduler@proj.iam.gserviceaccount.com",
        email_verified=True,
    )
    assert call(wrong_audience).status_code == 401
    other_account = sign(
        aud="https://idle-cleanup.example",
        email="intruder@proj.iam.gserviceaccount.com",
        email_verified=True,
    )
    assert call(other_account).status_code == 403
    expired = sign(
        aud="https://idle-cleanup.example",
        email="scheduler@proj.iam.gserviceaccount.com",
        email_verified=True,
        exp=int(time.time()) - 60,
    )
    assert call(expired).status_code == 401
    assert call(good[:-4] + "AAAA").status_code == 401
    assert call(None).status_code == 401


def test_the_function_refuses_everyone_when_not_configured(services, ws_settings):
    services.replace_settings(workspaces=ws_settings)
    client = load_function("idle_cleanup").test_client()
    response = client.post("/", headers={"Authorization": "Bearer x"})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "not_configured"
