"""Connected accounts: list, link while signed in (the sign-in flow with a link intent), unlink
(never the last way to sign in), and a first password for a provider-only account."""

from __future__ import annotations

from urllib.parse import quote

from tests.auth.accounts_helpers import auth, dump_store, error_of, login
from tests.auth.mailbox import link_of, mails_to
from tests.conftest import register
from tests.oauth import conftest as oauth_fixtures
from tests.oauth.conftest import sign_in_at_google
from tests.oauth.test_google import finish, google_sign_in

clock = oauth_fixtures.clock
oauth = oauth_fixtures.oauth
oauth_settings = oauth_fixtures.oauth_settings
oidc_server = oauth_fixtures.oidc_server

PASSWORD = "correct horse battery"


def connections(api, body):
    response = api.get("/api/auth/connections", headers=auth(body["access_token"]))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def verified(api, services, email):
    """Signed up with a password and the mailed link followed: linking needs a proven email."""
    body = register(api, email, PASSWORD)
    token = link_of(mails_to(services, email)[-1])[1]
    confirmed = api.post(
        "/api/auth/verify-email", json={"token": token}, headers=auth(body["access_token"])
    )
    assert confirmed.status_code == 200, confirmed.get_data(as_text=True)
    return body


def start_link(api, body, provider="google"):
    return api.post(f"/api/auth/connections/{provider}/link", headers=auth(body["access_token"]))


def test_link_google_while_signed_in_then_unlink(api, services, oauth):
    # A subject is the provider's id, not ours: any characters but "/", up to 255.
    subject = "linker.google+1@example.com"
    body = verified(api, services, "linker@example.com")
    assert connections(api, body) == {"connections": [], "has_password": True}
    started = start_link(api, body)
    assert started.status_code == 200
    assert "Set-Cookie" in started.headers  # the flow's state, as /start sets it
    landed = finish(api, sign_in_at_google(started.get_json()["url"], subject))
    assert landed == {"oauth_linked": "google", "provider": "google"}

    listed = connections(api, body)["connections"]
    assert [(c["provider"], c["subject"], c["email"]) for c in listed] == [
        ("google", subject, "linker.google@example.com")
    ]
    # Google now signs in to this account (not a new one).
    signed_in = google_sign_in(api, subject)
    assert signed_in["user"]["user_id"] == body["user"]["user_id"]

    unlink = f"/api/auth/connections/google/{quote(subject)}"
    gone = api.delete(unlink, headers=auth(body["access_token"]))
    assert gone.status_code == 204
    assert connections(api, body)["connections"] == []
    again = api.delete(unlink, headers=auth(body["access_token"]))
    assert error_of(again) == (404, "connection_not_found")


def test_an_identity_of_another_account_is_not_linked(api, services, oauth):
    google_sign_in(api, "g-ada")  # signs up ada@example.com with Google
    other = verified(api, services, "other@example.com")
    started = start_link(api, other)
    landed = finish(api, sign_in_at_google(started.get_json()["url"], "g-ada"))
    assert landed["oauth_error"] == "identity_in_use"
    assert connections(api, other)["connections"] == []


def test_the_last_way_to_sign_in_cannot_be_unlinked_until_a_password_is_set(api, services, oauth):
    body = google_sign_in(api, "g-new")  # a provider-only account (verified email)
    assert connections(api, body)["has_password"] is False
    before = dump_store(services)
    refused = api.delete("/api/auth/connections/google/g-new", headers=auth(body["access_token"]))
    assert error_of(refused) == (409, "last_sign_in_method")
    assert dump_store(services) == before

    short = api.post(
        "/api/auth/password/set", json={"new_password": "short"}, headers=auth(body["access_token"])
    )
    assert error_of(short) == (422, "password_too_short")
    assert dump_store(services) == before
    new = "a brand new passphrase"
    done = api.post(
        "/api/auth/password/set", json={"new_password": new}, headers=auth(body["access_token"])
    )
    assert done.status_code == 204
    assert mails_to(services, "new.person@example.com")[-1]["Subject"] == (
        "Your Coditect password was set"
    )
    twice = api.post(
        "/api/auth/password/set", json={"new_password": new}, headers=auth(body["access_token"])
    )
    assert error_of(twice) == (409, "password_already_set")
    unlinked = api.delete("/api/auth/connections/google/g-new", headers=auth(body["access_token"]))
    assert unlinked.status_code == 204
    assert login(api, "new.person@example.com", new)["user"]["user_id"] == body["user"]["user_id"]


def test_linking_needs_a_session_and_a_configured_provider(api, services, oauth):
    assert error_of(api.post("/api/auth/connections/google/link")) == (401, "unauthorized")
    body = register(api, "linker@example.com", PASSWORD)
    assert error_of(start_link(api, body, "myspace")) == (404, "unknown_provider")


def test_a_provider_only_account_is_deleted_with_a_fresh_sign_in(api, services, oauth, clock):
    stale = google_sign_in(api, "g-new")
    clock.advance(5 * 60 + 1)
    before = dump_store(services)
    refused = api.post("/api/auth/delete-account", json={}, headers=auth(stale["access_token"]))
    assert error_of(refused) == (403, "reauthentication_required")
    assert dump_store(services) == before

    # Back to the OIDC stand-in's real time (its id_tokens live 300 s from the real clock).
    clock.advance(-(5 * 60 + 1))
    fresh = google_sign_in(api, "g-new")
    done = api.post("/api/auth/delete-account", json={}, headers=auth(fresh["access_token"]))
    assert done.status_code == 204
    # The identity is free too: signing in with it again makes a new account.
    again = google_sign_in(api, "g-new")
    assert again["sign_in"]["result"] == "signed_up"
    assert again["user"]["user_id"] != fresh["user"]["user_id"]
