"""`GET /api/plans` (public catalog) and `GET /api/billing/invoices` (the billing page's read),
against localstripe through the real SDK."""

from __future__ import annotations

from typing import Any

from shared.plans import CATALOG
from tests.billing.conftest import YEARLY_STARTER, make_event, post_event
from tests.billing.test_webhooks import activate, paid_user
from tests.conftest import bearer, register


def summary(api: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = api.get("/api/billing/invoices", headers=bearer(body))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    return dict(response.get_json())


def test_plans_are_public_and_come_from_the_catalog(api):
    response = api.get("/api/plans")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=300"
    body = response.get_json()
    assert body["currency"] == "usd"
    assert [p["name"] for p in body["plans"]] == ["free", "starter", "pro"]
    pro = body["plans"][2]
    assert pro["price_usd_per_month"] == CATALOG["pro"].price_usd_per_month
    assert pro["limits"] == {
        "llm_requests_per_month": CATALOG["pro"].limits.llm_requests_per_month,
        "storage_gb": CATALOG["pro"].limits.storage_gb,
        "workspace_hours_per_month": CATALOG["pro"].limits.workspace_hours_per_month,
        "running_workspaces": CATALOG["pro"].limits.running_workspaces,
    }
    assert api.post("/api/plans").status_code == 405


def test_invoices_need_a_token(api):
    response = api.get("/api/billing/invoices")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"]


def test_a_free_account_has_no_invoices(api):
    body = register(api, "free@example.com")
    assert summary(api, body) == {
        "subscription": {
            "plan": "free",
            "status": "active",
            "grace_until": None,
            "cancel_at_period_end": False,
        },
        "invoices": [],
        "next_invoice": None,
    }


def test_paid_account_sees_its_paid_invoice_and_the_next_one(api, billing, localstripe):
    body, sub_id = paid_user(api, "payer@example.com", plan="pro")
    activate(api, localstripe, sub_id)
    found = summary(api, body)
    assert found["subscription"]["plan"] == "pro"
    assert found["subscription"]["status"] == "active"
    [invoice] = found["invoices"]
    assert invoice["status"] == "paid"
    assert invoice["amount_paid"] == 9900
    assert invoice["currency"] == "usd"
    assert invoice["created"].endswith("Z")
    sub = localstripe.client.v1.subscriptions.retrieve(sub_id)
    assert found["next_invoice"]["plan"] == "pro"
    assert found["next_invoice"]["amount_due"] == 9900
    assert found["next_invoice"]["date"] is not None
    assert sub.status == "active"

    # Another tenant sees none of it.
    stranger = register(api, "stranger@example.com")
    assert summary(api, stranger)["invoices"] == []


def test_payment_failure_shows_the_grace_deadline(api, billing, localstripe):
    client = localstripe.client
    body, sub_id = paid_user(api, "late@example.com")
    activate(api, localstripe, sub_id)
    sub = client.v1.subscriptions.retrieve(sub_id)
    bad = client.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", params={"customer": sub.customer}
    )
    client.v1.customers.update(
        sub.customer, params={"invoice_settings": {"default_payment_method": bad.id}}
    )
    item = sub["items"]["data"][0]["id"]
    renewed = client.v1.subscriptions.update(
        sub_id, params={"items": [{"id": item, "plan": YEARLY_STARTER}]}
    )
    invoice = client.v1.invoices.retrieve(renewed.latest_invoice)
    post_event(api, make_event("invoice.payment_failed", invoice.to_dict()))
    found = summary(api, body)
    assert found["subscription"]["status"] == "past_due"
    assert found["subscription"]["grace_until"].endswith("Z")
    statuses = sorted(i["status"] for i in found["invoices"])
    assert statuses == ["open", "paid"]
