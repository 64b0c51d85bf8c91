"""IDE sessions end with the account's sessions: the heartbeat answers ``sessions_valid_after``,
access tokens issued earlier mint no launch or workspace token, and a take-back stops the
account's workspaces and tells the owner."""

from __future__ import annotations

from shared.clock import isoformat
from tests.auth.accounts_helpers import auth, error_of, login
from tests.auth.mailbox import mails_to
from tests.conftest import register
from tests.oauth import conftest as oauth_fixtures
from tests.oauth.test_google import google_sign_in
from tests.workspaces import conftest as workspace_fixtures
from tests.workspaces.conftest import User, wait_status
from tests.workspaces.test_api import activity_credential, beat

PASSWORD = "correct horse battery"
# The fixtures of both folders: the OIDC stand-in (its clock starts at the real time) and the
# Kubernetes stand-in with the provisioner.
clock = oauth_fixtures.clock
oauth = oauth_fixtures.oauth
oauth_settings = oauth_fixtures.oauth_settings
oidc_server = oauth_fixtures.oidc_server
kube = workspace_fixtures.kube
platform = workspace_fixtures.platform
ws_settings = workspace_fixtures.ws_settings


def ready_workspace(api, body) -> tuple[User, str]:
    user = User(api, body)
    wid = user.create("w").get_json()["workspace"]["workspace_id"]
    wait_status(user, wid, "ready")
    return user, wid


def test_sign_out_everywhere_ends_ide_sessions_and_stolen_access_tokens(platform, api, kube, clock):
    body = register(api, "ada@example.com", PASSWORD)
    stolen = body["access_token"]
    user, wid = ready_workspace(api, body)
    credential = activity_credential(kube, user, wid)
    launch = f"/api/workspaces/{wid}/launch"
    assert api.post(launch, headers=auth(stolen)).status_code == 200
    first = beat(api, wid, credential, isoformat(clock.now()))
    assert first.status_code == 200 and first.get_json() == {"sessions_valid_after": None}

    clock.advance(5)
    revoked_at = clock.now()
    assert api.post("/api/auth/sessions/revoke-all", headers=auth(stolen)).status_code == 204
    # The stolen token, unexpired, still reads, but mints no IDE session.
    assert error_of(api.post(launch, headers=auth(stolen))) == (401, "session_revoked")
    token = api.post(f"/api/workspaces/{wid}/token", headers=auth(stolen))
    assert error_of(token) == (401, "session_revoked")
    reply = beat(api, wid, credential, isoformat(clock.now()))
    assert reply.status_code == 200
    assert reply.get_json() == {"sessions_valid_after": revoked_at}

    fresh = login(api, "ada@example.com", PASSWORD)  # signing in again works at once
    assert api.post(launch, headers=auth(fresh["access_token"])).status_code == 200


def test_password_change_moves_the_time_forward_too(platform, api, kube, clock):
    body = register(api, "ada@example.com", PASSWORD)
    user, wid = ready_workspace(api, body)
    credential = activity_credential(kube, user, wid)
    clock.advance(5)
    changed = api.post(
        "/api/auth/password/change",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=auth(body["access_token"]),
    )
    assert changed.status_code == 204
    assert beat(api, wid, credential, isoformat(clock.now())).get_json() == {
        "sessions_valid_after": clock.now()
    }


def test_take_back_stops_the_workspaces_and_mails_the_owner(platform, api, kube, oauth, clock):
    squatter = register(api, "victim@example.com", PASSWORD)
    user, wid = ready_workspace(api, squatter)
    credential = activity_credential(kube, user, wid)
    clock.advance(5)

    victim = google_sign_in(api, "g-victim")
    assert victim["sign_in"]["result"] == "linked"
    ws = User(api, victim).workspace(wid)
    assert ws["status"] in ("stopping", "stopped")
    wait_status(User(api, victim), wid, "stopped")
    valid_after = beat(api, wid, credential, isoformat(clock.now())).get_json()
    assert valid_after["sessions_valid_after"] is not None
    assert error_of(
        api.post(f"/api/workspaces/{wid}/launch", headers=auth(squatter["access_token"]))
    ) == (401, "session_revoked")
    notice = mails_to(platform, "victim@example.com")[-1]
    assert notice["Subject"] == "Your Coditect account is yours again"
    assert "1 running workspace(s) were stopped" in notice.get_content()
