"""PATCH /api/auth/me: the profile's names, changed only by the signed-in owner."""

from __future__ import annotations

from tests.auth.accounts_helpers import auth, dump_store, error_of
from tests.auth.test_api_tokens import audit_types, create
from tests.conftest import register


def me(api, body):
    return api.get("/api/auth/me", headers=auth(body["access_token"])).get_json()["user"]


def patch(api, body, payload):
    return api.patch("/api/auth/me", json=payload, headers=auth(body["access_token"]))


def test_names_change_only_as_sent_and_empty_clears(api, services):
    body = register(api, first_name="Ada", last_name="Lovelace")
    changed = patch(api, body, {"first_name": "  Augusta Ada "})
    assert changed.status_code == 200
    assert changed.get_json()["user"]["first_name"] == "Augusta Ada"
    assert (me(api, body)["first_name"], me(api, body)["last_name"]) == ("Augusta Ada", "Lovelace")

    cleared = patch(api, body, {"last_name": ""})
    assert cleared.get_json()["user"]["last_name"] is None
    assert me(api, body)["last_name"] is None
    assert audit_types(services, body["user"]["tenant_id"]).count("profile_updated") == 2


def test_the_same_names_again_write_nothing(api, services):
    body = register(api, first_name="Ada")
    before = dump_store(services)
    assert patch(api, body, {"first_name": "Ada"}).status_code == 200
    assert dump_store(services) == before


def test_bad_names_are_refused_and_change_nothing(api, services):
    body = register(api, first_name="Ada")
    before = dump_store(services)
    for payload in (
        {"first_name": "a" * 101},
        {"first_name": "line\nbreak"},
        {"last_name": 42},
        {"nickname": "extra field"},
    ):
        status, _ = error_of(patch(api, body, payload))
        assert status in (400, 422), payload
    assert dump_store(services) == before
    assert me(api, body)["first_name"] == "Ada"


def test_only_a_signed_in_session_changes_the_profile(api, services):
    body = register(api)
    token = create(api, body, name="ci", scope="workspaces").get_json()["secret"]
    refused = api.patch("/api/auth/me", json={"first_name": "Eve"}, headers=auth(token))
    assert refused.status_code == 403
    assert error_of(api.patch("/api/auth/me", json={"first_name": "Eve"}))[0] == 401
    assert me(api, body)["first_name"] is None
