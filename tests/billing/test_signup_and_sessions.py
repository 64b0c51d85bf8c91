"""Paid sign-up against localstripe; Checkout and Portal against an HTTP fake of those endpoints."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from shared.accounts.licenses import get_license
from shared.billing.wiring import build_billing_service
from shared.store.keys import INDEXES, TENANTS
from tests.billing.conftest import API_KEY, WEBHOOK_SECRET, post_event, subscription_event
from tests.conftest import bearer, register


def billing_record(services: Any, tenant_id: str) -> dict[str, Any] | None:
    raw = services.db.transact(lambda tr: tr.get(TENANTS[tenant_id].key("billing")))
    return json.loads(raw) if raw else None


def test_paid_signup_with_a_good_card_creates_customer_and_active_subscription(
    api, billing, services, localstripe
):
    body = register(
        api, "ada@example.com", plan="pro", payment_method_id="pm_card_visa", first_name="Ada"
    )
    answer = body["subscription"]
    assert answer["status"] == "active"
    assert answer["id"].startswith("sub_")
    assert answer["client_secret"]
    assert "reason" not in answer

    tenant_id, user_id = body["user"]["tenant_id"], body["user"]["user_id"]
    record = billing_record(services, tenant_id)
    customer = localstripe.client.v1.customers.retrieve(record["customer_id"])
    assert customer.metadata.to_dict() == {"tenant_id": tenant_id, "user_id": user_id}
    assert customer.email == "ada@example.com"
    index = services.db.transact(
        lambda tr: tr.get(INDEXES.key("stripe_customer", record["customer_id"]))
    )
    assert json.loads(index) == {"tenant_id": tenant_id, "user_id": user_id}
    sub = localstripe.client.v1.subscriptions.retrieve(answer["id"])
    assert sub["items"]["data"][0]["plan"]["id"] == localstripe.prices["pro"][0]
    assert sub.metadata.to_dict() == {"tenant_id": tenant_id, "user_id": user_id, "plan": "pro"}
    # Still free until the webhook: sign-up never grants the plan.
    assert services.db.transact(lambda tr: get_license(tr, tenant_id))["plan"] == "free"


def test_declined_card_answers_incomplete_with_reason_and_client_secret(api, billing, services):
    body = register(
        api, "declined@example.com", plan="starter", payment_method_id="pm_card_chargeCustomerFail"
    )
    answer = body["subscription"]
    assert answer["status"] == "incomplete"
    assert answer["reason"] == "card_declined"
    assert answer["client_secret"].startswith("pi_")


def test_card_needing_3d_secure_answers_requires_action(api, billing, localstripe):
    pm = localstripe.client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": "4000002500003155", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    body = register(api, "3ds@example.com", plan="starter", payment_method_id=pm.id)
    answer = body["subscription"]
    assert answer["status"] == "incomplete"
    assert answer["reason"] == "requires_action"
    assert answer["client_secret"]


def test_signup_without_card_on_localstripe_reports_failure_and_the_checkout_path(
    api, billing, services
):
    # localstripe cannot create a subscription without a card (Stripe makes it incomplete).
    body = register(api, "nocard@example.com", plan="starter")
    answer = body["subscription"]
    assert answer["status"] == "failed"
    assert answer["id"] is None
    assert answer["retry"] == {
        "method": "POST",
        "path": "/api/billing/checkout",
        "body": {"plan": "starter"},
    }
    # The account exists, on free, and can sign in.
    assert api.get("/api/auth/me", headers=bearer(body)).get_json()["plan"] == "free"


def test_stripe_unreachable_at_signup_leaves_a_free_account_and_a_retryable_answer(
    api, services, billing_settings, localstripe
):
    services.secrets.add_version("stripe-api-key", API_KEY.encode())
    services.use(
        billing=build_billing_service(
            services, dataclasses.replace(billing_settings, api_base="http://127.0.0.1:9")
        )
    )
    body = register(api, "down@example.com", plan="pro", payment_method_id="pm_card_visa")
    answer = body["subscription"]
    assert answer["status"] == "failed"
    assert answer["reason"] == "APIConnectionError"
    assert answer["retry"]["path"] == "/api/billing/checkout"
    assert billing_record(services, body["user"]["tenant_id"]) is None
    assert api.get("/api/auth/me", headers=bearer(body)).get_json()["plan"] == "free"


def test_free_signup_never_calls_stripe(api, services):
    body = register(api, "free@example.com")
    assert body["subscription"] is None
    assert not services.is_built("billing")


# -- Checkout -------------------------------------------------------------------------------------
def test_checkout_creates_a_subscription_session_for_the_callers_own_customer(
    api, billing, services, localstripe, httpserver
):
    body = register(api, "buyer@example.com")
    httpserver.expect_request("/v1/checkout/sessions", method="POST").respond_with_json(
        {"id": "cs_test_9", "object": "checkout.session", "url": "https://checkout.test/cs_9"}
    )
    response = api.post("/api/billing/checkout", json={"plan": "starter"}, headers=bearer(body))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"url": "https://checkout.test/cs_9"}

    (request, _), *_ = httpserver.log
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["Idempotency-Key"].startswith("coditect-checkout-")
    form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
    tenant_id = body["user"]["tenant_id"]
    customer_id = billing_record(services, tenant_id)["customer_id"]
    assert form["mode"] == "subscription"
    assert form["customer"] == customer_id
    assert form["line_items[0][price]"] == localstripe.prices["starter"][0]
    assert form["client_reference_id"] == tenant_id
    assert form["metadata[tenant_id]"] == tenant_id
    assert form["success_url"] == "http://testserver/billing/success"
    # The customer exists in Stripe with the tenant in its metadata.
    customer = localstripe.client.v1.customers.retrieve(customer_id)
    assert customer.metadata["tenant_id"] == tenant_id

    # A second checkout reuses the same customer.
    api.post("/api/billing/checkout", json={"plan": "pro"}, headers=bearer(body))
    second = {k: v[0] for k, v in parse_qs(httpserver.log[1][0].get_data(as_text=True)).items()}
    assert second["customer"] == customer_id


def test_checkout_needs_a_token_and_a_paid_plan(api, billing, httpserver):
    body = register(api, "picky@example.com")
    no_token = api.post("/api/billing/checkout", json={"plan": "pro"})
    assert no_token.status_code == 401
    assert no_token.get_json()["error"]["code"] == "unauthorized"
    free = api.post("/api/billing/checkout", json={"plan": "free"}, headers=bearer(body))
    assert free.status_code == 422
    assert free.get_json()["error"]["code"] == "validation_error"
    not_json = api.post(
        "/api/billing/checkout", data="plan=pro", headers=bearer(body), content_type="text/plain"
    )
    assert not_json.status_code == 415
    assert httpserver.log == []


def test_checkout_refuses_a_second_subscription(api, billing, localstripe, httpserver):
    body = register(api, "sub@example.com", plan="starter", payment_method_id="pm_card_visa")
    sub = localstripe.client.v1.subscriptions.retrieve(body["subscription"]["id"])
    post_event(api, subscription_event("customer.subscription.created", sub))
    response = api.post("/api/billing/checkout", json={"plan": "pro"}, headers=bearer(body))
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "already_subscribed"
    assert httpserver.log == []


def test_checkout_when_stripe_fails_is_a_clear_error(api, billing, httpserver):
    body = register(api, "flaky@example.com")
    httpserver.expect_request("/v1/checkout/sessions").respond_with_json(
        {"error": {"type": "api_error", "message": "boom"}}, status=500
    )
    response = api.post("/api/billing/checkout", json={"plan": "pro"}, headers=bearer(body))
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "billing_unavailable"
    assert response.headers["Retry-After"] == "30"


# -- Portal ---------------------------------------------------------------------------------------
def test_portal_opens_for_the_callers_customer_only(api, billing, services, httpserver):
    nobody = register(api, "nobilling@example.com")
    none_yet = api.post("/api/billing/portal", headers=bearer(nobody))
    assert none_yet.status_code == 409
    assert none_yet.get_json()["error"]["code"] == "no_billing_account"

    payer = register(api, "payer2@example.com", plan="starter", payment_method_id="pm_card_visa")
    httpserver.expect_request("/v1/billing_portal/sessions", method="POST").respond_with_json(
        {"id": "bps_1", "object": "billing_portal.session", "url": "https://portal.test/bps_1"}
    )
    response = api.post("/api/billing/portal", headers=bearer(payer))
    assert response.status_code == 200
    assert response.get_json() == {"url": "https://portal.test/bps_1"}
    form = {k: v[0] for k, v in parse_qs(httpserver.log[0][0].get_data(as_text=True)).items()}
    assert form["customer"] == billing_record(services, payer["user"]["tenant_id"])["customer_id"]
    assert form["return_url"] == "http://testserver/billing"
    assert api.post("/api/billing/portal").status_code == 401


# -- secrets -------------------------------------------------------------------------------------
def test_stripe_key_and_webhook_secret_never_reach_the_logs(
    api, billing, localstripe, caplog, capsys
):
    from shared.logs import CloudLoggingFormatter

    caplog.set_level(logging.DEBUG)
    body = register(api, "quiet@example.com", plan="starter", payment_method_id="pm_card_visa")
    sub = localstripe.client.v1.subscriptions.retrieve(body["subscription"]["id"])
    post_event(api, subscription_event("customer.subscription.created", sub))
    post_event(api, subscription_event("customer.subscription.created", sub), secret="whsec_bad1")
    formatter = CloudLoggingFormatter("test")
    text = "\n".join(formatter.format(r) for r in caplog.records) + capsys.readouterr().out
    assert caplog.records  # billing did log
    assert API_KEY not in text
    assert WEBHOOK_SECRET not in text
    assert body["subscription"]["client_secret"] not in text
