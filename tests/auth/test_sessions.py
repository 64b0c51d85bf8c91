"""Sign-in sessions: list, revoke one, sign out everywhere; password change keeps only this one."""

from __future__ import annotations

from tests.auth.accounts_helpers import account_state, auth, dump_store, error_of, login
from tests.auth.mailbox import mails_to
from tests.conftest import register

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"
NEW = "a brand new passphrase"


def sessions(api, body):
    response = api.get("/api/auth/sessions", headers=auth(body["access_token"]))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["sessions"]


def refresh(api, body):
    return api.post("/api/auth/refresh", json={"refresh_token": body["refresh_token"]})


def test_sessions_list_when_how_and_from_where(api, services, clock):
    laptop = register(api, EMAIL, PASSWORD)
    clock.advance(60)
    phone = api.post(
        "/api/auth/login",
        json={"email": EMAIL, "password": PASSWORD},
        headers={"User-Agent": "PhoneBrowser/1.0"},
        environ_base={"REMOTE_ADDR": "198.51.100.9"},
    ).get_json()
    clock.advance(60)
    assert refresh(api, laptop).status_code == 200  # the laptop's session was used last

    listed = sessions(api, phone)
    assert [s["current"] for s in listed] == [False, True]
    used, other = listed
    assert used["method"] == other["method"] == "password"
    assert used["last_used_at"] > used["created_at"]
    assert other["client"] == "PhoneBrowser/1.0" and other["client_ip"] == "198.51.100.9"
    assert set(used) == {
        "session_id", "method", "created_at", "last_used_at", "client", "client_ip",
        "expires_at", "current",
    }  # fmt: skip


def test_revoke_one_session(api, services):
    first = register(api, EMAIL, PASSWORD)
    second = login(api, EMAIL, PASSWORD)
    target = next(s for s in sessions(api, first) if not s["current"])["session_id"]
    response = api.delete(f"/api/auth/sessions/{target}", headers=auth(first["access_token"]))
    assert response.status_code == 204
    assert error_of(refresh(api, second)) == (401, "session_revoked")
    assert refresh(api, first).status_code == 200
    assert [s["current"] for s in sessions(api, first)] == [True]
    # Asked again: already done.
    again = api.delete(f"/api/auth/sessions/{target}", headers=auth(first["access_token"]))
    assert again.status_code == 204


def test_someone_elses_session_is_not_found(api, services):
    mine = register(api, EMAIL, PASSWORD)
    theirs = register(api, "bob@example.com", PASSWORD)
    their_session = sessions(api, theirs)[0]["session_id"]
    before = dump_store(services)
    for session_id in (their_session, "nope"):
        response = api.delete(
            f"/api/auth/sessions/{session_id}", headers=auth(mine["access_token"])
        )
        assert error_of(response) == (404, "session_not_found")
    assert dump_store(services) == before
    assert refresh(api, theirs).status_code == 200


def test_sign_out_everywhere(api, services, clock):
    first = register(api, EMAIL, PASSWORD)
    second = login(api, EMAIL, PASSWORD)
    clock.advance(5)
    response = api.post("/api/auth/sessions/revoke-all", headers=auth(first["access_token"]))
    assert response.status_code == 204
    for body in (first, second):
        assert error_of(refresh(api, body)) == (401, "session_revoked")
    fresh = login(api, EMAIL, PASSWORD)  # a new sign-in works at once
    assert len(sessions(api, fresh)) == 1


def test_password_change_needs_the_current_one_and_keeps_only_this_session(api, services, clock):
    here = register(api, EMAIL, PASSWORD)
    elsewhere = login(api, EMAIL, PASSWORD)
    change = "/api/auth/password/change"
    before = account_state(services)
    wrong = api.post(
        change,
        json={"current_password": "not my password", "new_password": NEW},
        headers=auth(here["access_token"]),
    )
    assert error_of(wrong) == (403, "wrong_password")
    weak = api.post(
        change,
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=auth(here["access_token"]),
    )
    assert error_of(weak) == (422, "password_too_short")
    assert account_state(services) == before

    clock.advance(5)
    ok = api.post(
        change,
        json={"current_password": PASSWORD, "new_password": NEW},
        headers=auth(here["access_token"]),
    )
    assert ok.status_code == 204
    assert error_of(refresh(api, elsewhere)) == (401, "session_revoked")
    assert refresh(api, here).status_code == 200
    login(api, EMAIL, NEW)
    assert mails_to(services, EMAIL)[-1]["Subject"] == "Your Coditect password was changed"


def test_set_password_refuses_an_account_that_has_one(api, services):
    body = register(api, EMAIL, PASSWORD)
    response = api.post(
        "/api/auth/password/set", json={"new_password": NEW}, headers=auth(body["access_token"])
    )
    # The email is not verified yet: that is checked first.
    assert error_of(response) == (403, "email_not_verified")


def test_session_endpoints_need_a_session(api, services):
    for method, path in [
        ("GET", "/api/auth/sessions"),
        ("POST", "/api/auth/sessions/revoke-all"),
        ("DELETE", "/api/auth/sessions/x"),
        ("POST", "/api/auth/password/change"),
    ]:
        assert error_of(api.open(path, method=method)) == (401, "unauthorized")


def test_wrong_current_passwords_are_limited(api, services, clock):
    body = register(api, EMAIL, PASSWORD)
    guess = {"current_password": "a wrong guess!", "new_password": NEW}
    for _ in range(5):
        response = api.post(
            "/api/auth/password/change", json=guess, headers=auth(body["access_token"])
        )
        assert error_of(response) == (403, "wrong_password")
    right = {"current_password": PASSWORD, "new_password": NEW}
    limited = api.post("/api/auth/password/change", json=right, headers=auth(body["access_token"]))
    assert error_of(limited) == (429, "too_many_requests")
    assert int(limited.headers["Retry-After"]) > 0
    clock.advance(3600)
    fresh = login(api, EMAIL, PASSWORD)
    ok = api.post("/api/auth/password/change", json=right, headers=auth(fresh["access_token"]))
    assert ok.status_code == 204
