"""Personal API tokens: created once, stored hashed, accepted within their scope only."""

from __future__ import annotations

import json

from shared.store.keys import TENANTS
from tests.auth.accounts_helpers import auth, dump_store, error_of
from tests.conftest import register


def create(api, body, **fields):
    payload = {"name": "ci", "scope": "read", **fields}
    return api.post("/api/auth/tokens", json=payload, headers=auth(body["access_token"]))


def audit_types(services, tenant_id):
    rows = services.db.transact(lambda tr: tr.get_range(*TENANTS[tenant_id].range("audit")))
    return [json.loads(v)["type"] for _, v in rows]


def test_a_token_is_shown_once_stored_hashed_and_listed_without_its_secret(api, services):
    body = register(api)
    response = create(api, body, name="laptop script", expires_in_days=30)
    assert response.status_code == 201
    created = response.get_json()
    secret = created["secret"]
    assert secret.startswith("cdt_pat_") and len(secret) > 40
    assert created["token"]["prefix"] == secret[:12]
    assert created["token"]["last_used_at"] is None
    assert secret.encode() not in b"".join(k + v for k, v in dump_store(services))

    listed = api.get("/api/auth/tokens", headers=auth(body["access_token"])).get_json()
    assert listed == {"tokens": [created["token"]]}
    assert "secret" not in json.dumps(listed)
    assert "api_token.created" in audit_types(services, body["user"]["tenant_id"])


def test_scopes(api, services, clock):
    body = register(api)
    read = create(api, body, name="r", scope="read").get_json()["secret"]
    write = create(api, body, name="w", scope="workspaces").get_json()["secret"]
    llm = create(api, body, name="l", scope="llm").get_json()["secret"]

    assert api.get("/api/workspaces", headers=auth(read)).status_code == 200
    assert api.get("/api/auth/me", headers=auth(read)).status_code == 200
    api.get("/api/workspaces", headers=auth(write))
    api.get("/api/workspaces", headers=auth(llm))
    before = dump_store(services)  # each token's last use is recorded (once a minute at most)
    denied = api.post("/api/workspaces", json={"name": "w1"}, headers=auth(read))
    assert error_of(denied) == (403, "insufficient_scope")
    assert error_of(api.get("/api/workspaces", headers=auth(llm))) == (403, "insufficient_scope")
    # No token manages the account: tokens, sessions, passwords, deletion need a sign-in.
    for token in (read, write, llm):
        assert error_of(create(api, {"access_token": token}, name="x")) == (
            403,
            "insufficient_scope",
        )
        assert error_of(api.get("/api/auth/sessions", headers=auth(token)))[0] == 403
        assert error_of(api.post("/api/auth/delete-account", json={}, headers=auth(token))) == (
            403,
            "insufficient_scope",
        )
    assert dump_store(services) == before

    created = api.post("/api/workspaces", json={"name": "w1"}, headers=auth(write))
    assert created.status_code == 202, created.get_data(as_text=True)
    wid = created.get_json()["workspace"]["workspace_id"]
    assert api.get(f"/api/workspaces/{wid}", headers=auth(read)).status_code == 200
    assert error_of(api.delete(f"/api/workspaces/{wid}", headers=auth(read)))[0] == 403


def test_last_used_time_is_kept_cheaply(api, services, clock):
    body = register(api)
    secret = create(api, body).get_json()["secret"]
    api.get("/api/workspaces", headers=auth(secret))
    first = api.get("/api/auth/tokens", headers=auth(body["access_token"])).get_json()
    used = first["tokens"][0]["last_used_at"]
    assert used is not None
    clock.advance(10)
    api.get("/api/workspaces", headers=auth(secret))  # within the minute: not written again
    again = api.get("/api/auth/tokens", headers=auth(body["access_token"])).get_json()
    assert again["tokens"][0]["last_used_at"] == used
    clock.advance(60)
    api.get("/api/workspaces", headers=auth(secret))
    later = api.get("/api/auth/tokens", headers=auth(body["access_token"])).get_json()
    assert later["tokens"][0]["last_used_at"] > used


def test_a_revoked_token_is_refused(api, services):
    body = register(api)
    created = create(api, body).get_json()
    token_id, secret = created["token"]["token_id"], created["secret"]
    gone = api.delete(f"/api/auth/tokens/{token_id}", headers=auth(body["access_token"]))
    assert gone.status_code == 204
    assert error_of(api.get("/api/workspaces", headers=auth(secret))) == (401, "invalid_token")
    again = api.delete(f"/api/auth/tokens/{token_id}", headers=auth(body["access_token"]))
    assert error_of(again) == (404, "token_not_found")
    assert "api_token.revoked" in audit_types(services, body["user"]["tenant_id"])


def test_an_expired_token_is_refused(api, services, clock):
    body = register(api)
    secret = create(api, body, expires_in_days=1).get_json()["secret"]
    clock.advance(86400)
    assert error_of(api.get("/api/workspaces", headers=auth(secret))) == (401, "token_expired")


def test_made_up_and_other_users_tokens(api, services):
    mine = register(api)
    theirs = register(api, "bob@example.com")
    their_token = create(api, theirs).get_json()["token"]["token_id"]
    assert error_of(
        api.delete(f"/api/auth/tokens/{their_token}", headers=auth(mine["access_token"]))
    ) == (404, "token_not_found")
    fake = "cdt_pat_" + "A" * 43
    assert error_of(api.get("/api/workspaces", headers=auth(fake))) == (401, "invalid_token")


def test_bad_requests_write_nothing(api, services):
    body = register(api)
    before = dump_store(services)
    for fields in (
        {"name": ""},
        {"scope": "admin"},
        {"expires_in_days": 0},
        {"expires_in_days": 1000},
        {"name": "a\nb"},
        {"extra": 1},
    ):
        assert error_of(create(api, body, **fields))[0] == 422, fields
    create(api, body, name="dup")
    after_one = dump_store(services)
    assert error_of(create(api, body, name="dup")) == (409, "name_taken")
    assert dump_store(services) == after_one
    assert len(after_one) > len(before)
