"""Password reset by mail, through the API, with the mails read from the local outbox."""

from __future__ import annotations

from shared.accounts.password_flows import RESETS_PER_CLIENT, RESETS_PER_EMAIL
from tests.auth.accounts_helpers import auth, dump_store, error_of, login
from tests.auth.mailbox import mails_to, reset_token_in
from tests.conftest import bearer, register

EMAIL = "ada@example.com"
OLD = "correct horse battery"
NEW = "a brand new passphrase"


def ask(api, email=EMAIL, client="203.0.113.7"):
    return api.post(
        "/api/auth/password/reset", json={"email": email}, environ_base={"REMOTE_ADDR": client}
    )


def confirm(api, token, password=NEW):
    return api.post(
        "/api/auth/password/reset/confirm", json={"token": token, "new_password": password}
    )


def test_reset_sets_the_password_ends_every_session_and_mails_a_notice(api, services):
    first = register(api, EMAIL, OLD)
    second = login(api, EMAIL, OLD)
    known, unknown = ask(api), ask(api, "nobody@example.com")
    # The same answer whether or not the address has an account.
    assert known.status_code == unknown.status_code == 202
    assert known.get_json() == unknown.get_json()
    assert mails_to(services, "nobody@example.com") == []
    reset_mail = [m for m in mails_to(services, EMAIL) if "Reset" in m["Subject"]]
    token = reset_token_in(reset_mail[-1])
    # Only the token's hash is stored.
    assert token.encode() not in b"".join(k + v for k, v in dump_store(services))

    assert confirm(api, token).status_code == 204
    assert error_of(api.post("/api/auth/login", json={"email": EMAIL, "password": OLD})) == (
        401,
        "invalid_credentials",
    )
    login(api, EMAIL, NEW)
    for session in (first, second):
        refused = api.post("/api/auth/refresh", json={"refresh_token": session["refresh_token"]})
        assert error_of(refused) == (401, "session_revoked")
    notice = mails_to(services, EMAIL)[-1]
    assert notice["Subject"] == "Your Coditect password was reset"


def test_a_reset_link_works_once(api, services):
    register(api, EMAIL, OLD)
    ask(api)
    token = reset_token_in(mails_to(services, EMAIL)[-1])
    assert confirm(api, token).status_code == 204
    before = dump_store(services)
    assert error_of(confirm(api, token, "yet another passphrase")) == (400, "invalid_token")
    assert dump_store(services) == before
    login(api, EMAIL, NEW)


def test_a_reset_link_expires_after_an_hour(api, services, clock):
    register(api, EMAIL, OLD)
    ask(api)
    token = reset_token_in(mails_to(services, EMAIL)[-1])
    clock.advance(3600)
    before = dump_store(services)
    assert error_of(confirm(api, token)) == (400, "token_expired")
    assert dump_store(services) == before
    login(api, EMAIL, OLD)


def test_a_new_request_replaces_the_previous_link(api, services, clock):
    register(api, EMAIL, OLD)
    ask(api)
    old = reset_token_in(mails_to(services, EMAIL)[-1])
    ask(api)
    new = reset_token_in(mails_to(services, EMAIL)[-1])
    assert error_of(confirm(api, old)) == (400, "invalid_token")
    assert confirm(api, new).status_code == 204


def test_the_new_password_follows_the_sign_up_policy(api, services):
    register(api, EMAIL, OLD)
    ask(api)
    token = reset_token_in(mails_to(services, EMAIL)[-1])
    before = dump_store(services)
    assert error_of(confirm(api, token, "short")) == (422, "password_too_short")
    assert error_of(confirm(api, token, "ada-is-my-password")) == (422, "password_contains_email")
    assert dump_store(services) == before
    assert confirm(api, token).status_code == 204  # still usable after a refused password


def test_requests_are_limited_per_email_and_per_client(api, services, clock):
    register(api, EMAIL, OLD)
    for _ in range(RESETS_PER_EMAIL):
        assert ask(api).status_code == 202
    limited = ask(api, client="198.51.100.1")  # another client: the email's own limit
    assert error_of(limited) == (429, "too_many_requests")
    assert int(limited.headers["Retry-After"]) > 0
    # Unknown addresses are counted alike: a 429 says nothing about which have accounts.
    for _ in range(RESETS_PER_EMAIL):
        assert ask(api, "ghost@example.com").status_code == 202
    assert ask(api, "ghost@example.com").status_code == 429
    # Per client: many addresses from one client address.
    for n in range(RESETS_PER_CLIENT - 2 * RESETS_PER_EMAIL):
        assert ask(api, f"someone{n}@example.com", client="203.0.113.7").status_code == 202
    assert error_of(ask(api, "fresh@example.com", client="203.0.113.7")) == (
        429,
        "too_many_requests",
    )
    clock.advance(3601)
    assert ask(api).status_code == 202


def test_following_a_reset_link_proves_the_mailbox(api, services):
    body = register(api, EMAIL, OLD)
    me = api.get("/api/auth/me", headers=bearer(body)).get_json()
    assert me["user"]["email_verified"] is False
    ask(api)
    token = reset_token_in(mails_to(services, EMAIL)[-1])
    assert confirm(api, token).status_code == 204
    fresh = login(api, EMAIL, NEW)
    me = api.get("/api/auth/me", headers=auth(fresh["access_token"])).get_json()
    assert me["user"]["email_verified"] is True


def test_bad_reset_requests_write_nothing(api, services):
    register(api, EMAIL, OLD)
    before = dump_store(services)
    assert error_of(confirm(api, "not-a-token")) == (400, "invalid_token")
    assert error_of(api.post("/api/auth/password/reset/confirm", json={"token": "x"}))[0] == 422
    assert error_of(ask(api, "not an email"))[0] == 422
    assert error_of(api.post("/api/auth/password/reset", data="x"))[0] == 415
    assert dump_store(services) == before
