"""Linking another sign-in method needs the owner's say, and the owner is told by mail.

A provider identity whose verified email matches an account that already proved that email is
not linked on sign-in: the callback answers ``account_exists`` and writes nothing. The owner,
signed in their usual way, links it from settings (``POST /api/auth/oauth/{provider}/link``),
and every added sign-in method is mailed to them. The take-back of an unverified account stays
as it was (tests/oauth/test_account_takeover.py) and is mailed too.
"""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

import pytest

from shared import passwords
from shared.clock import isoformat
from shared.store.keys import INDEXES, TENANTS
from tests.auth.mailbox import outbox
from tests.conftest import bearer, register
from tests.oauth.conftest import dump_store, path_and_query, query, sign_in_at_google
from tests.oauth.test_github import FakeGitHub, github_sign_in
from tests.oauth.test_google import finish, google_sign_in
from tests.oauth.test_google import start as google_start


@pytest.fixture
def github(httpserver: Any, oauth: Any, monkeypatch: pytest.MonkeyPatch) -> FakeGitHub:
    monkeypatch.delenv("CODITECT_MAIL", raising=False)  # mail goes to the local outbox
    fake = FakeGitHub(httpserver)
    fake.install()
    return fake


def link_google(api: Any, session: dict[str, Any], sub: str) -> dict[str, str]:
    """The owner clicks "link Google" in settings; returns the app redirect's query."""
    response = api.post("/api/auth/oauth/google/link", headers=bearer(session))
    assert response.status_code == 200, response.get_data(as_text=True)
    return finish(api, sign_in_at_google(response.get_json()["url"], sub))


def notices(services: Any) -> list[EmailMessage]:
    return [m for m in outbox(services) if "sign-in was added" in m["Subject"]]


def identity_index(services: Any, provider: str, subject: str) -> Any:
    return services.db.transact(lambda tr: tr.get(INDEXES.key("identity", provider, subject)))


def test_a_matching_verified_email_is_not_linked_without_the_owner(api, github, services):
    owner = github_sign_in(api, github)  # ada@example.com, proven by GitHub
    assert owner["user"]["email_verified"] is True
    callback = sign_in_at_google(google_start(api), "g-ada")  # Google vouches for the same email
    before = dump_store(services)
    response = api.get(path_and_query(callback))
    assert response.status_code == 302
    assert query(response.headers["Location"]) == {
        "oauth_error": "account_exists",
        "provider": "google",
    }
    assert dump_store(services) == before  # no link, no session, no code
    assert identity_index(services, "google", "g-ada") is None
    assert notices(services) == []


def test_the_signed_in_owner_links_from_settings_and_is_told_by_mail(api, github, services):
    owner = github_sign_in(api, github)
    uid, tid = owner["user"]["user_id"], owner["user"]["tenant_id"]
    landed = link_google(api, owner, "g-ada")
    assert landed == {"oauth_linked": "google", "provider": "google"}  # no code, no token
    assert json.loads(identity_index(services, "google", "g-ada")) == {
        "user_id": uid,
        "tenant_id": tid,
    }
    [notice] = notices(services)
    assert notice["To"] == "ada@example.com"
    assert notice["Subject"] == "Google sign-in was added to your Coditect account"
    # Google is now a way in to the same account; the GitHub session was left alone
    by_google = google_sign_in(api, "g-ada")
    assert by_google["sign_in"] == {"provider": "google", "result": "signed_in"}
    assert by_google["user"]["user_id"] == uid
    me = api.get("/api/auth/me", headers=bearer(by_google)).get_json()
    assert me["user"]["identities"] == ["github", "google"]
    refreshed = api.post("/api/auth/refresh", json={"refresh_token": owner["refresh_token"]})
    assert refreshed.status_code == 200
    # linking again changes nothing and mails nothing
    assert link_google(api, by_google, "g-ada")["oauth_linked"] == "google"
    assert len(notices(services)) == 1


def test_linking_leaves_the_owners_password_alone(api, github, services, clock):
    created = github_sign_in(api, github)
    uid, tid = created["user"]["user_id"], created["user"]["tenant_id"]
    password_hash = passwords.hash_password("a password ada chose herself")
    services.db.transact(
        lambda tr: tr.set(
            TENANTS[tid].key("credential", uid),
            json.dumps(
                {"password_hash": password_hash, "updated_at": isoformat(clock.now())}
            ).encode(),
        )
    )
    link_google(api, created, "g-ada")
    login = api.post(
        "/api/auth/login",
        json={"email": "ada@example.com", "password": "a password ada chose herself"},
    )
    assert login.status_code == 200 and login.get_json()["user"]["user_id"] == uid


def test_link_needs_a_session_and_a_proven_email(api, github, services):
    assert api.post("/api/auth/oauth/google/link").status_code == 401
    unverified = register(api, "eve@example.com", "correct horse battery")
    response = api.post("/api/auth/oauth/google/link", headers=bearer(unverified))
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "email_not_verified"
    unknown = api.post("/api/auth/oauth/gitlab/link", headers=bearer(unverified))
    assert unknown.status_code == 404


def test_an_identity_already_used_by_another_account_is_not_moved(api, github, services):
    someone = google_sign_in(api, "g-new")  # g-new signs in to its own account
    owner = github_sign_in(api, github)
    response = api.post("/api/auth/oauth/google/link", headers=bearer(owner))
    callback = sign_in_at_google(response.get_json()["url"], "g-new")
    before = dump_store(services)
    refused = api.get(path_and_query(callback))
    assert query(refused.headers["Location"])["oauth_error"] == "identity_in_use"
    assert dump_store(services) == before
    assert (
        json.loads(identity_index(services, "google", "g-new"))["user_id"]
        == (someone["user"]["user_id"])
    )
    assert notices(services) == []


def test_a_link_started_by_the_owner_cannot_be_finished_in_another_browser(api, github, services):
    from werkzeug.test import Client

    owner = github_sign_in(api, github)
    response = api.post("/api/auth/oauth/google/link", headers=bearer(owner))
    callback = sign_in_at_google(response.get_json()["url"], "g-ada")
    other = Client(api.application)  # holds no state cookie for this link
    refused = other.get(path_and_query(callback))
    assert query(refused.headers["Location"])["oauth_error"] == "missing_state"
    assert identity_index(services, "google", "g-ada") is None


def test_the_take_back_of_an_unverified_account_is_mailed_once_naming_the_method(
    api, github, services
):
    register(api, "ada@example.com", "attacker knows this one")
    before = len(outbox(services))  # the verification mail of the registration
    taken = github_sign_in(api, github)
    assert taken["sign_in"] == {"provider": "github", "result": "linked"}
    # One mail: the take-back's notice, which names the sign-in method now on the account.
    assert len(outbox(services)) == before + 1
    notice = outbox(services)[-1]
    assert notice["To"] == "ada@example.com"
    assert notice["Subject"] == "Your Coditect account is yours again"
    assert "GitHub is now a way to sign in" in notice.get_content()


def test_a_new_account_gets_no_notice(api, github, services):
    assert github_sign_in(api, github)["sign_in"]["result"] == "signed_up"
    assert notices(services) == []
