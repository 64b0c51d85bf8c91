"""Pre-registration takeover: a verified provider email takes an unverified account back.

Someone registers ``victim@example.com`` with a password before the victim ever signs in; when
Google (or GitHub) vouches for that email, the link marks it verified, removes the password and
revokes every session, in the link's own transaction. An account whose email is already verified
is never linked on sign-in: its owner links from settings (tests/oauth/test_linking.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.store.keys import TENANTS
from tests.conftest import bearer, register
from tests.oauth.test_github import FakeGitHub
from tests.oauth.test_google import google_sign_in

ATTACKER_PASSWORD = "attacker knows this one"


@pytest.fixture
def github(httpserver: Any, oauth: Any) -> FakeGitHub:
    fake = FakeGitHub(httpserver)
    fake.install()
    return fake


def password_login(api: Any, email: str, password: str) -> Any:
    return api.post("/api/auth/login", json={"email": email, "password": password})


def refresh(api: Any, body: dict[str, Any]) -> Any:
    return api.post("/api/auth/refresh", json={"refresh_token": body["refresh_token"]})


def records(services: Any, tenant_id: str, kind: str) -> list[dict[str, Any]]:
    rows = services.db.transact(lambda tr: tr.get_range(*TENANTS[tenant_id].range(kind)))
    return [json.loads(value) for _, value in rows]


def audits(services: Any, tenant_id: str, kind: str) -> list[dict[str, Any]]:
    return [event for event in records(services, tenant_id, "audit") if event["type"] == kind]


def test_victims_google_sign_in_takes_the_account_back_from_the_password_registrant(
    api, oauth, services
):
    attacker = register(api, "victim@example.com", ATTACKER_PASSWORD)
    assert attacker["user"]["email_verified"] is False
    second = password_login(api, "victim@example.com", ATTACKER_PASSWORD)
    assert second.status_code == 200  # the attacker holds two sessions before the victim arrives
    attacker_me = api.get("/api/auth/me", headers=bearer(attacker)).get_json()
    assert attacker_me["user"]["email_verified"] is False
    assert attacker_me["user"]["identities"] == []
    uid, tid = attacker["user"]["user_id"], attacker["user"]["tenant_id"]

    victim = google_sign_in(api, "g-victim")
    assert victim["sign_in"] == {"provider": "google", "result": "linked"}
    assert victim["user"]["user_id"] == uid
    assert victim["user"]["email_verified"] is True

    # the attacker's password no longer opens the account ...
    login = password_login(api, "victim@example.com", ATTACKER_PASSWORD)
    assert login.status_code == 401
    assert login.get_json()["error"]["code"] == "invalid_credentials"
    # ... and neither of the attacker's sessions can be renewed
    for body in (attacker, second.get_json()):
        renewed = refresh(api, body)
        assert renewed.status_code == 401
        assert renewed.get_json()["error"]["code"] == "session_revoked"

    # the victim's own session works and shows the proven email and the linked provider
    me = api.get("/api/auth/me", headers=bearer(victim))
    assert me.status_code == 200
    assert me.get_json()["user"]["email_verified"] is True
    assert me.get_json()["user"]["identities"] == ["google"]
    assert refresh(api, victim).status_code == 200

    # what the store holds: no credential, revoked families with the reason, one audit event
    credential = TENANTS[tid].key("credential", uid)
    assert services.db.transact(lambda tr: tr.get(credential)) is None
    families = {f["family_id"]: f for f in records(services, tid, "refresh_family")}
    attacker_families = [f for f in families.values() if f["method"] == "password"]
    assert len(attacker_families) == 2
    assert all(f["revoked"] for f in attacker_families)
    assert {f["revoked_reason"] for f in attacker_families} == {"email_verified_by_oauth"}
    assert [f["revoked"] for f in families.values() if f["method"] == "oauth:google"] == [False]
    [event] = audits(services, tid, "user.email_verified")
    assert event["user_id"] == uid and event["provider"] == "google"
    assert event["password_removed"] is True and event["sessions_revoked"] == 2

    # signing in again goes through the identity: nothing more is revoked
    again = google_sign_in(api, "g-victim")
    assert again["sign_in"]["result"] == "signed_in"
    assert refresh(api, again).status_code == 200
    assert len(audits(services, tid, "user.email_verified")) == 1


def test_a_user_record_without_the_flag_counts_as_unverified(api, oauth, services):
    # Accounts registered before the flag existed carry no "email_verified" at all.
    registered = register(api, "ada@example.com", ATTACKER_PASSWORD)
    uid, tid = registered["user"]["user_id"], registered["user"]["tenant_id"]
    user_key = TENANTS[tid].key("user", uid)

    def drop_flag(tr: Any) -> None:
        user = json.loads(tr.get(user_key))
        del user["email_verified"]
        tr.set(user_key, json.dumps(user).encode())

    services.db.transact(drop_flag)
    me = api.get("/api/auth/me", headers=bearer(registered)).get_json()
    assert me["user"]["email_verified"] is False
    linked = google_sign_in(api, "g-ada")
    assert linked["sign_in"]["result"] == "linked"
    assert password_login(api, "ada@example.com", ATTACKER_PASSWORD).status_code == 401
    assert refresh(api, registered).status_code == 401
    stored = services.db.transact(lambda tr: json.loads(tr.get(user_key)))
    assert stored["email_verified"] is True
