"""A paid sign-up whose Stripe step fails says so: the account exists on free, and the answer
names the failure and how to pay again (never a silent free account)."""

from __future__ import annotations

from typing import Any

from shared.api.schemas import Registered
from tests.conftest import bearer


def test_paid_signup_without_billing_configured_answers_failed_with_the_retry(api: Any) -> None:
    # The test services wire no Stripe prices: the state a stack answering too early was in.
    answer = api.post(
        "/api/auth/register",
        json={
            "email": "early@example.com",
            "password": "correct horse battery",
            "plan": "starter",
            "payment_method_id": "pm_card_visa",
        },
    )
    assert answer.status_code == 201
    body = answer.get_json()
    Registered.model_validate(body)  # the documented answer
    subscription = body["subscription"]
    assert subscription["status"] == "failed"
    assert subscription["reason"] == "billing_not_configured"
    assert subscription["plan"] == "starter" and subscription["id"] is None
    assert subscription["retry"] == {
        "method": "POST",
        "path": "/api/billing/checkout",
        "body": {"plan": "starter"},
    }
    me = api.get("/api/auth/me", headers=bearer(body)).get_json()
    assert me["plan"] == "free" and me["license"]["plan"] == "free"
    # The retry path answers too, in the error shape, while billing stays unconfigured.
    retry = api.post("/api/billing/checkout", json={"plan": "starter"}, headers=bearer(body))
    assert retry.status_code == 502
    assert retry.get_json()["error"]["code"] == "billing_not_configured"
