"""The issue's "Done when", in one walk through the real functions with the stand-ins.

"A new user signs in with Google, an existing password user links GitHub by verified email and
then signs in either way." Decision taken (docs/oauth.md, "Unverified emails"): a password
sign-up does not prove the email, so when a provider's verified email links to such an account
the password is removed. "Either way" therefore holds for password accounts whose email is
verified. No API makes one yet (it needs email verification or a set-password step on a
provider-verified account); the test writes the flag such a step would write, and everything
after that goes through the HTTP API.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.store.keys import TENANTS
from tests.conftest import bearer, register
from tests.oauth.test_github import FakeGitHub, github_sign_in
from tests.oauth.test_google import google_sign_in

PASSWORD = "correct horse battery"


@pytest.fixture
def github(httpserver: Any, oauth: Any) -> FakeGitHub:
    fake = FakeGitHub(httpserver)
    fake.install()
    return fake


def login(api: Any, email: str, password: str) -> Any:
    return api.post("/api/auth/login", json={"email": email, "password": password})


def mark_email_verified(services: Any, registered: dict[str, Any]) -> None:
    """What a future email-verification step writes (no API does this today)."""
    uid, tid = registered["user"]["user_id"], registered["user"]["tenant_id"]
    key = TENANTS[tid].key("user", uid)

    def verify(tr: Any) -> None:
        user = json.loads(tr.get(key))
        tr.set(key, json.dumps({**user, "email_verified": True}).encode())

    services.db.transact(verify)


def test_done_when(api, github, services):
    # A new user signs in with Google: a personal tenant on the free plan.
    new = google_sign_in(api, "g-new")
    assert new["sign_in"] == {"provider": "google", "result": "signed_up"}
    assert api.get("/api/auth/me", headers=bearer(new)).get_json()["plan"] == "free"

    # An existing password user (email verified) links GitHub by verified email ...
    registered = register(api, "ada@example.com", PASSWORD)
    mark_email_verified(services, registered)
    linked = github_sign_in(api, github)
    assert linked["sign_in"] == {"provider": "github", "result": "linked"}
    assert linked["user"]["user_id"] == registered["user"]["user_id"]

    # ... then signs in either way, reaching the same account.
    by_password = login(api, "ada@example.com", PASSWORD)
    assert by_password.status_code == 200
    assert by_password.get_json()["user"]["user_id"] == registered["user"]["user_id"]
    by_github = github_sign_in(api, github)
    assert by_github["sign_in"] == {"provider": "github", "result": "signed_in"}
    assert by_github["user"]["user_id"] == registered["user"]["user_id"]
    me = api.get("/api/auth/me", headers=bearer(by_github)).get_json()
    assert me["user"]["identities"] == ["github"] and me["user"]["email_verified"] is True
    # the sessions started before the link were left alone (the email was already proven)
    refreshed = api.post("/api/auth/refresh", json={"refresh_token": registered["refresh_token"]})
    assert refreshed.status_code == 200


def test_done_when_for_a_password_user_whose_email_was_never_verified(api, github):
    # The decision above: the link takes the account back; GitHub is the way in from then on.
    registered = register(api, "ada@example.com", PASSWORD)
    linked = github_sign_in(api, github)
    assert linked["sign_in"] == {"provider": "github", "result": "linked"}
    assert login(api, "ada@example.com", PASSWORD).get_json()["error"]["code"] == (
        "invalid_credentials"
    )
    again = github_sign_in(api, github)
    assert again["sign_in"]["result"] == "signed_in"
    assert again["user"]["user_id"] == registered["user"]["user_id"]
