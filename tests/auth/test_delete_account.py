"""Deleting an account (Stripe on localstripe, workspaces through the reconciler on the
Kubernetes stand-in) and exporting its data."""

from __future__ import annotations

from shared.billing.records import get_billing
from tests.auth.accounts_helpers import account_state, auth, dump_store, error_of
from tests.auth.mailbox import mails_to
from tests.billing import conftest as billing_fixtures
from tests.conftest import register
from tests.workspaces import conftest as workspace_fixtures
from tests.workspaces.conftest import User, wait_status

localstripe = billing_fixtures.localstripe
billing_settings = billing_fixtures.billing_settings
billing = billing_fixtures.billing
kube = workspace_fixtures.kube
platform = workspace_fixtures.platform
ws_settings = workspace_fixtures.ws_settings

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"
DELETE = "/api/auth/delete-account"


def test_delete_cancels_the_subscription_removes_workspaces_and_frees_the_email(
    api, services, billing, localstripe, platform, kube
):
    body = register(api, EMAIL, PASSWORD, plan="pro", payment_method_id="pm_card_visa")
    sub_id = body["subscription"]["id"]
    tenant_id, user_id = body["user"]["tenant_id"], body["user"]["user_id"]
    user = User(api, body)
    wid = user.create("w").get_json()["workspace"]["workspace_id"]
    wait_status(user, wid, "ready")
    token = api.post(
        "/api/auth/tokens", json={"name": "ci", "scope": "read"}, headers=auth(body["access_token"])
    ).get_json()["secret"]

    before = account_state(services)
    wrong = api.post(
        DELETE, json={"password": "not my password"}, headers=auth(body["access_token"])
    )
    assert error_of(wrong) == (403, "wrong_password")
    missing = api.post(DELETE, json={}, headers=auth(body["access_token"]))
    assert error_of(missing) == (422, "password_required")
    assert account_state(services) == before
    assert localstripe.client.v1.subscriptions.retrieve(sub_id).status == "active"

    done = api.post(DELETE, json={"password": PASSWORD}, headers=auth(body["access_token"]))
    assert done.status_code == 204, done.get_data(as_text=True)
    assert localstripe.client.v1.subscriptions.retrieve(sub_id).status == "canceled"
    wait_status(user, wid, "deleted", timeout=20)
    namespace = f"u-{user_id}"
    assert kube.server.objects("persistentvolumeclaims", namespace) == []
    assert kube.server.objects("pods", namespace) == []

    # Personal data is gone: the address appears nowhere in the store; billing's link stays.
    assert EMAIL.encode() not in b"".join(k + v for k, v in dump_store(services))
    assert services.db.transact(lambda tr: get_billing(tr, tenant_id)) is not None
    assert error_of(api.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})) == (
        401,
        "invalid_credentials",
    )
    refreshed = api.post("/api/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert error_of(refreshed) == (401, "session_revoked")
    assert error_of(api.get("/api/workspaces", headers=auth(token))) == (401, "invalid_token")
    assert mails_to(services, EMAIL)[-1]["Subject"] == "Your Coditect account was deleted"

    # Deleting twice: refused, nothing written.
    after = dump_store(services)
    again = api.post(DELETE, json={"password": PASSWORD}, headers=auth(body["access_token"]))
    assert error_of(again) == (401, "account_deleted")
    assert dump_store(services) == after

    # The address is free again.
    assert register(api, EMAIL, PASSWORD)["user"]["user_id"] != user_id


def test_stripe_down_stops_the_deletion_before_anything_is_written(
    api, services, billing, localstripe, monkeypatch
):
    body = register(api, EMAIL, PASSWORD, plan="starter", payment_method_id="pm_card_visa")
    from shared.billing.gateway import GatewayError

    def unreachable(subscription_id):
        raise GatewayError("Stripe could not be reached", retryable=True)

    # The one place a client is patched: an outage localstripe cannot play.
    monkeypatch.setattr(billing.gateway, "cancel_subscription", unreachable)
    before = dump_store(services)
    response = api.post(DELETE, json={"password": PASSWORD}, headers=auth(body["access_token"]))
    assert error_of(response) == (503, "billing_unavailable")
    assert dump_store(services) == before


def test_export_is_the_accounts_data_without_secrets(api, services):
    body = register(api, EMAIL, PASSWORD, first_name="Ada")
    api.post(
        "/api/auth/tokens", json={"name": "ci", "scope": "read"}, headers=auth(body["access_token"])
    )
    response = api.get("/api/auth/export", headers=auth(body["access_token"]))
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    data = response.get_json()
    assert data["user"]["email"] == EMAIL and data["user"]["first_name"] == "Ada"
    assert data["has_password"] is True
    assert [t["name"] for t in data["api_tokens"]] == ["ci"]
    assert len(data["sessions"]) == 1 and data["license"]["plan"] == "free"
    assert {e["type"] for e in data["audit"]} >= {"user.registered", "api_token.created"}
    text = response.get_data(as_text=True)
    for secret in ("password_hash", "token_sha256", "current_jti", "argon2"):
        assert secret not in text
