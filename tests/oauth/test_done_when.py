"""The issue's "Done when", in one walk through the real functions with the stand-ins.

"A new user signs in with Google, an existing password user links GitHub by verified email and
then signs in either way." Decision taken (docs/oauth.md, "Unverified emails"): a password
sign-up does not prove the email, so when a provider's verified email links to such an account
the password is removed. A password user who followed the verification link mailed at sign-up
(``POST /api/auth/verify-email``) has proven the address: GitHub is then not linked on sign-in
without them (``account_exists``); signed in with the password, they link GitHub from settings,
are told by mail, keep the password and sign in either way. Everything goes through the HTTP API
and the local mail outbox.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.auth.mailbox import only_mail_to, outbox
from tests.conftest import bearer, register
from tests.oauth.test_github import FakeGitHub, callback, github_sign_in, start
from tests.oauth.test_google import google_sign_in

PASSWORD = "correct horse battery"


@pytest.fixture
def github(httpserver: Any, oauth: Any, monkeypatch: pytest.MonkeyPatch) -> FakeGitHub:
    monkeypatch.delenv("CODITECT_MAIL", raising=False)  # mail goes to the local outbox
    fake = FakeGitHub(httpserver)
    fake.install()
    return fake


def login(api: Any, email: str, password: str) -> Any:
    return api.post("/api/auth/login", json={"email": email, "password": password})


def test_done_when(api, github, services):
    # A new user signs in with Google: a personal tenant on the free plan.
    new = google_sign_in(api, "g-new")
    assert new["sign_in"] == {"provider": "google", "result": "signed_up"}
    assert api.get("/api/auth/me", headers=bearer(new)).get_json()["plan"] == "free"

    # An existing password user verifies the email through the link mailed at sign-up ...
    registered = register(api, "ada@example.com", PASSWORD)
    token = only_mail_to(services, "ada@example.com")
    verified = api.post("/api/auth/verify-email", json={"token": token}, headers=bearer(registered))
    assert verified.status_code == 200, verified.get_data(as_text=True)
    me = api.get("/api/auth/me", headers=bearer(registered)).get_json()
    assert me["user"]["email_verified"] is True and me["user"]["identities"] == []

    # ... is not linked to GitHub by email alone ...
    landed = callback(api, github.authorize(start(api)))
    assert landed == {"oauth_error": "account_exists", "provider": "github"}
    # ... so links it from settings, signed in with the password, and is told by mail ...
    link = api.post("/api/auth/oauth/github/link", headers=bearer(registered))
    assert link.status_code == 200, link.get_data(as_text=True)
    assert callback(api, github.authorize(link.get_json()["url"])) == {
        "oauth_linked": "github",
        "provider": "github",
    }
    assert outbox(services)[-1]["Subject"] == "GitHub sign-in was added to your Coditect account"

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


def test_done_when_for_a_password_user_whose_email_was_never_verified(api, github, services):
    # The decision above: the link takes the account back; GitHub is the way in from then on.
    registered = register(api, "ada@example.com", PASSWORD)
    unused = only_mail_to(services, "ada@example.com")  # the mailed link is never followed
    linked = github_sign_in(api, github)
    assert linked["sign_in"] == {"provider": "github", "result": "linked"}
    assert login(api, "ada@example.com", PASSWORD).get_json()["error"]["code"] == (
        "invalid_credentials"
    )
    again = github_sign_in(api, github)
    assert again["sign_in"]["result"] == "signed_in"
    assert again["user"]["user_id"] == registered["user"]["user_id"]
    # the takeover also retired the link mailed to whoever registered
    late = api.post("/api/auth/verify-email", json={"token": unused}, headers=bearer(again))
    assert late.status_code == 400 and late.get_json()["error"]["code"] == "invalid_token"
