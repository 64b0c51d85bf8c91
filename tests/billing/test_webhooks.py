"""POST /webhooks/stripe through the real function, on subscriptions that live in localstripe."""

from __future__ import annotations

import json
import time
from typing import Any

from shared.accounts.licenses import get_license
from shared.store.keys import PROCESSED, TENANTS
from tests.billing.conftest import (
    YEARLY_STARTER,
    make_event,
    post_event,
    subscription_event,
)
from tests.conftest import bearer, register

DAY = 24 * 3600


def me(api: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = api.get("/api/auth/me", headers=bearer(body))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def refreshed(api: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/api/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def history(services: Any, tenant_id: str) -> list[dict[str, Any]]:
    begin, end = TENANTS[tenant_id].range("license_history")
    rows = [json.loads(v) for _, v in services.db.transact(lambda tr: tr.get_range(begin, end))]
    # The manual clock stands still, so follow the chain rather than the timestamps.
    by_previous = {row["previous_license_id"]: row for row in rows}
    ordered, previous = [], None
    while previous in by_previous:
        ordered.append(by_previous[previous])
        previous = ordered[-1]["license_id"]
    assert len(ordered) == len(rows)
    return ordered


def processed_count(services: Any) -> int:
    begin, end = PROCESSED.range("stripe_event")
    return len(services.db.transact(lambda tr: tr.get_range(begin, end)))


def paid_user(
    api: Any, email: str = "payer@example.com", plan: str = "starter"
) -> tuple[dict[str, Any], str]:
    body = register(api, email, plan=plan, payment_method_id="pm_card_visa")
    assert body["subscription"]["status"] == "active"
    return body, body["subscription"]["id"]


def activate(api: Any, localstripe: Any, sub_id: str) -> Any:
    sub = localstripe.client.v1.subscriptions.retrieve(sub_id)
    response = post_event(api, subscription_event("customer.subscription.created", sub))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["outcome"] == "applied"
    return sub


# -- signature checks come first ---------------------------------------------------------------
def test_forged_stale_tampered_and_unsigned_events_are_rejected_with_nothing_written(
    api, billing, services, localstripe
):
    body, sub_id = paid_user(api)
    sub = localstripe.client.v1.subscriptions.retrieve(sub_id)
    event = subscription_event("customer.subscription.created", sub)
    before = history(services, body["user"]["tenant_id"])

    forged = post_event(api, event, secret="whsec_not_the_real_secret_123")
    stale = post_event(api, event, timestamp=int(time.time()) - 301)
    tampered_event = {**event, "data": {"object": {**event["data"]["object"], "status": "x"}}}
    tampered = post_event(api, tampered_event, signed_body=json.dumps(event))
    unsigned = post_event(api, event, header=None)
    garbage = post_event(api, event, header="t=1,v1=deadbeef")

    for response in (forged, stale, tampered, unsigned, garbage):
        assert response.status_code == 400, response.get_data(as_text=True)
        assert response.get_json()["error"]["code"] == "invalid_signature"
    assert processed_count(services) == 0
    assert history(services, body["user"]["tenant_id"]) == before
    assert me(api, body)["plan"] == "free"

    # The same event, properly signed, within the tolerance, is accepted.
    fresh = post_event(api, event, timestamp=int(time.time()) - 200)
    assert fresh.status_code == 200
    assert me(api, body)["plan"] == "starter"


def test_signed_body_that_is_not_an_event_is_a_400(api, billing, services):
    response = post_event(api, json.dumps({"hello": "world"}))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_event"
    assert processed_count(services) == 0


def test_unknown_event_type_is_acknowledged_and_ignored(api, billing, services):
    response = post_event(api, make_event("charge.dispute.created", {"id": "dp_1"}))
    assert response.status_code == 200
    assert response.get_json() == {"received": True, "outcome": "ignored"}
    assert processed_count(services) == 0


# -- the paid path ---------------------------------------------------------------------------------
def test_plan_turns_paid_only_when_the_webhook_says_active(api, billing, services, localstripe):
    body, sub_id = paid_user(api)
    # Sign-up answered "active" but the license moves only on Stripe's word, via the webhook.
    assert me(api, body)["plan"] == "free"
    activate(api, localstripe, sub_id)
    found = me(api, body)
    assert found["plan"] == "starter"
    assert found["license"]["status"] == "active"
    assert found["limits"]["running_workspaces"] == 3
    entries = history(services, body["user"]["tenant_id"])
    assert [e["action"] for e in entries] == ["created", "activated"]
    assert entries[-1]["stripe_subscription_id"] == sub_id


def test_duplicate_delivery_changes_nothing_the_second_time(api, billing, services, localstripe):
    body, sub_id = paid_user(api)
    sub = localstripe.client.v1.subscriptions.retrieve(sub_id)
    event = subscription_event("customer.subscription.created", sub)
    first = post_event(api, event)
    second = post_event(api, event)
    assert first.get_json()["outcome"] == "applied"
    assert second.status_code == 200
    assert second.get_json()["outcome"] == "duplicate"
    assert len(history(services, body["user"]["tenant_id"])) == 2
    assert processed_count(services) == 1


def test_out_of_order_events_never_move_a_subscription_back(api, billing, services, localstripe):
    body, sub_id = paid_user(api)
    created = subscription_event(
        "customer.subscription.created",
        localstripe.client.v1.subscriptions.retrieve(sub_id),
        created=int(time.time()) - 60,
    )
    localstripe.client.v1.subscriptions.cancel(sub_id)
    deleted = subscription_event(
        "customer.subscription.deleted", localstripe.client.v1.subscriptions.retrieve(sub_id)
    )
    # Stripe sent created, then deleted; they arrive the other way round.
    assert post_event(api, deleted).get_json()["outcome"] == "applied"
    late = post_event(api, created)
    assert late.status_code == 200
    assert late.get_json()["outcome"] == "stale"
    found = me(api, body)
    assert found["plan"] == "free"
    assert found["license"]["status"] == "canceled"
    assert [e["action"] for e in history(services, body["user"]["tenant_id"])] == [
        "created",
        "canceled",
    ]


def test_payment_failure_starts_grace_then_free_limits_and_recovery_restores(
    api, billing, services, localstripe, clock
):
    client = localstripe.client
    body, sub_id = paid_user(api)
    tenant_id = body["user"]["tenant_id"]
    activate(api, localstripe, sub_id)
    sub = client.v1.subscriptions.retrieve(sub_id)
    customer = sub.customer
    good = client.v1.customers.retrieve(customer).invoice_settings.default_payment_method

    # A renewal that fails: a failing default card and a new billing period (a yearly price).
    bad = client.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", params={"customer": customer}
    )
    client.v1.customers.update(
        customer, params={"invoice_settings": {"default_payment_method": bad.id}}
    )
    item = sub["items"]["data"][0]["id"]
    renewed = client.v1.subscriptions.update(
        sub_id, params={"items": [{"id": item, "plan": YEARLY_STARTER}]}
    )
    assert renewed.status == "past_due"
    invoice = client.v1.invoices.retrieve(renewed.latest_invoice)
    failed = post_event(api, make_event("invoice.payment_failed", invoice.to_dict()))
    assert failed.get_json()["outcome"] == "applied"

    license_record = services.db.transact(lambda tr: get_license(tr, tenant_id))
    assert license_record["status"] == "past_due"
    assert license_record["grace_until"] == clock.now() + 7 * DAY
    assert me(api, body)["plan"] == "starter"  # within grace
    clock.advance(7 * DAY + 1)
    body = {**body, **refreshed(api, body)}
    after_grace = me(api, body)
    assert after_grace["plan"] == "free"
    assert after_grace["limits"]["running_workspaces"] == 1

    # A second failure notice does not restart the grace period.
    again = post_event(api, make_event("invoice.payment_failed", invoice.to_dict()))
    assert again.get_json()["outcome"] == "unchanged"
    assert me(api, body)["plan"] == "free"

    # The customer fixes the card; Stripe collects; the plan comes back.
    client.v1.customers.update(
        customer, params={"invoice_settings": {"default_payment_method": good}}
    )
    paid = client.v1.invoices.pay(invoice.id)
    assert paid.status == "paid"
    recovered = post_event(api, make_event("invoice.payment_succeeded", paid.to_dict()))
    assert recovered.get_json()["outcome"] == "applied"
    found = me(api, body)
    assert found["plan"] == "starter"
    assert found["license"]["status"] == "active"
    actions = [e["action"] for e in history(services, tenant_id)]
    assert actions == ["created", "activated", "payment_failed", "payment_recovered"]


def test_cancellation_in_stripe_brings_free_limits_and_deletes_nothing(
    api, billing, services, localstripe
):
    body, sub_id = paid_user(api)
    tenant_id, user_id = body["user"]["tenant_id"], body["user"]["user_id"]
    activate(api, localstripe, sub_id)
    canceled = localstripe.client.v1.subscriptions.cancel(sub_id)
    response = post_event(api, subscription_event("customer.subscription.deleted", canceled))
    assert response.get_json()["outcome"] == "applied"
    found = me(api, body)
    assert found["plan"] == "free"
    assert found["limits"] == {
        "llm_requests_per_month": 100,
        "storage_gb": 1,
        "workspace_hours_per_month": 10,
        "running_workspaces": 1,
    }
    assert found["user"]["user_id"] == user_id  # the account and its data remain
    license_record = services.db.transact(lambda tr: get_license(tr, tenant_id))
    assert license_record["stripe_plan"] == "starter"
    assert license_record["stripe_customer_id"] == canceled.customer


def test_checkout_completion_activates_through_the_session_event(
    api, billing, services, localstripe, httpserver
):
    body = register(api, "checkout@example.com")
    httpserver.expect_request("/v1/checkout/sessions", method="POST").respond_with_json(
        {"id": "cs_test_1", "object": "checkout.session", "url": "https://checkout.test/cs_1"}
    )
    answer = api.post("/api/billing/checkout", json={"plan": "pro"}, headers=bearer(body))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    customer = services.db.transact(
        lambda tr: json.loads(tr.get(TENANTS[body["user"]["tenant_id"]].key("billing")))
    )["customer_id"]
    # What Stripe does when the buyer pays: a subscription on the customer, then the event.
    client = localstripe.client
    client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer})
    pm = client.v1.payment_methods.list(params={"customer": customer, "type": "card"}).data[0]
    client.v1.customers.update(
        customer, params={"invoice_settings": {"default_payment_method": pm.id}}
    )
    sub = client.v1.subscriptions.create(
        params={"customer": customer, "items": [{"plan": localstripe.prices["pro"][0]}]}
    )
    session = {
        "id": "cs_test_1",
        "object": "checkout.session",
        "mode": "subscription",
        "status": "complete",
        "customer": customer,
        "subscription": sub.id,
        "client_reference_id": body["user"]["tenant_id"],
    }
    response = post_event(api, make_event("checkout.session.completed", session))
    assert response.get_json()["outcome"] == "applied"
    assert me(api, body)["plan"] == "pro"


def test_events_for_a_customer_that_is_not_ours_are_acknowledged(
    api, billing, services, localstripe
):
    client = localstripe.client
    stranger = client.v1.customers.create(
        params={"email": "x@example.com", "payment_method": "pm_card_visa"}
    )
    pm = client.v1.payment_methods.list(params={"customer": stranger.id, "type": "card"}).data[0]
    client.v1.customers.update(
        stranger.id, params={"invoice_settings": {"default_payment_method": pm.id}}
    )
    sub = client.v1.subscriptions.create(
        params={"customer": stranger.id, "items": [{"plan": localstripe.prices["pro"][0]}]}
    )
    response = post_event(api, subscription_event("customer.subscription.created", sub))
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "unknown_customer"


def test_an_abandoned_signup_expiring_does_not_end_a_paid_checkout(
    api, billing, services, localstripe
):
    # Sign-up with a declined card leaves subscription A incomplete; Checkout then succeeds (B).
    body = register(
        api, "retry@example.com", plan="starter", payment_method_id="pm_card_chargeCustomerFail"
    )
    assert body["subscription"]["status"] == "incomplete"
    sub_a = localstripe.client.v1.subscriptions.retrieve(body["subscription"]["id"])
    assert post_event(api, subscription_event("customer.subscription.created", sub_a)).status_code
    assert me(api, body)["license"]["status"] == "incomplete"

    client = localstripe.client
    client.v1.payment_methods.attach("pm_card_visa", params={"customer": sub_a.customer})
    cards = client.v1.payment_methods.list(params={"customer": sub_a.customer, "type": "card"})
    pm = next(p for p in cards.data if p.card.last4 == "4242")
    client.v1.customers.update(
        sub_a.customer, params={"invoice_settings": {"default_payment_method": pm.id}}
    )
    sub_b = client.v1.subscriptions.create(
        params={"customer": sub_a.customer, "items": [{"plan": localstripe.prices["pro"][0]}]}
    )
    assert post_event(api, subscription_event("customer.subscription.created", sub_b))
    assert me(api, body)["plan"] == "pro"

    expired = client.v1.subscriptions.cancel(sub_a.id)  # A ends (incomplete_expired in Stripe)
    late = post_event(api, subscription_event("customer.subscription.deleted", expired))
    # A ended, but the customer still pays for B: the license keeps following B.
    assert late.get_json()["outcome"] in ("unchanged", "stale")
    assert me(api, body)["plan"] == "pro"
    tracked = services.db.transact(lambda tr: get_license(tr, body["user"]["tenant_id"]))
    assert tracked["stripe_subscription_id"] == sub_b.id


def test_ending_one_of_two_paid_subscriptions_keeps_the_one_still_charged(
    api, billing, services, localstripe
):
    # Two live subscriptions on one customer (a 3-D Secure sign-up confirmed after a Checkout):
    # the license follows the latest event, and when that one is canceled it must fall back to
    # the one Stripe still charges for, not to free.
    body, sub_a = paid_user(api, "twice@example.com")
    activate(api, localstripe, sub_a)
    client = localstripe.client
    customer = client.v1.subscriptions.retrieve(sub_a).customer
    sub_b = client.v1.subscriptions.create(
        params={"customer": customer, "items": [{"plan": localstripe.prices["pro"][0]}]}
    )
    assert sub_b.status == "active"
    assert (
        post_event(api, subscription_event("customer.subscription.created", sub_b)).get_json()[
            "outcome"
        ]
        == "applied"
    )
    assert me(api, body)["plan"] == "pro"

    canceled = client.v1.subscriptions.cancel(sub_b.id)
    response = post_event(api, subscription_event("customer.subscription.deleted", canceled))
    assert response.get_json()["outcome"] == "applied"
    found = me(api, body)
    assert (found["plan"], found["license"]["status"]) == ("starter", "active")
    tracked = services.db.transact(lambda tr: get_license(tr, body["user"]["tenant_id"]))
    assert tracked["stripe_subscription_id"] == sub_a
    actions = [e["action"] for e in history(services, body["user"]["tenant_id"])]
    assert actions == ["created", "activated", "plan_changed", "plan_changed"]

    # Once the last one is canceled too, the user is back on free.
    last = client.v1.subscriptions.cancel(sub_a)
    response = post_event(api, subscription_event("customer.subscription.deleted", last))
    assert response.get_json()["outcome"] == "applied"
    assert me(api, body)["plan"] == "free"


def test_signed_bodies_that_are_not_json_or_not_utf8_are_400_with_nothing_written(
    api, billing, services
):
    not_json = post_event(api, "{not json")
    assert not_json.status_code == 400
    assert not_json.get_json()["error"]["code"] == "malformed_event"
    a_list = post_event(api, "[1, 2]")
    assert a_list.status_code == 400
    assert a_list.get_json()["error"]["code"] == "malformed_event"
    raw = api.post(
        "/webhooks/stripe",
        data=b'{"id": "evt_\xff"}',
        headers={"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=00"},
    )
    assert raw.status_code == 400
    assert raw.get_json()["error"]["code"] == "invalid_signature"
    assert processed_count(services) == 0


def test_a_rotated_webhook_secret_accepts_the_newest_two_versions_only(
    api, billing, services, localstripe
):
    from shared.secret_names import STRIPE_WEBHOOK_SECRET
    from tests.billing.conftest import WEBHOOK_SECRET

    services.secrets.add_version(STRIPE_WEBHOOK_SECRET, b"whsec_rotated_second_0123456789")
    services.secrets.add_version(STRIPE_WEBHOOK_SECRET, b"whsec_rotated_third_0123456789")
    event = make_event("charge.refunded", {"id": "ch_1"})
    assert post_event(api, event, secret="whsec_rotated_third_0123456789").status_code == 200
    assert post_event(api, event, secret="whsec_rotated_second_0123456789").status_code == 200
    oldest = post_event(api, event, secret=WEBHOOK_SECRET)  # three versions back: retired
    assert oldest.status_code == 400
    assert oldest.get_json()["error"]["code"] == "invalid_signature"


def test_a_price_outside_the_catalog_buys_nothing_whatever_its_metadata_says(
    api, billing, services, localstripe
):
    """Metadata can be edited in the dashboard: a subscription to a price the catalog does not
    know is not a paid plan even when its metadata names one."""
    client = localstripe.client
    body, sub_id = paid_user(api, "rogue@example.com")
    tenant_id = body["user"]["tenant_id"]
    sub = client.v1.subscriptions.retrieve(sub_id)
    product = client.v1.products.create(params={"name": "Somebody's own price"})
    client.v1.plans.create(
        params={
            "id": "cheap-pro",
            "product": product.id,
            "amount": 1,
            "currency": "usd",
            "interval": "month",
        }
    )
    item = sub["items"]["data"][0]["id"]
    client.v1.subscriptions.update(
        sub_id,
        params={"items": [{"id": item, "plan": "cheap-pro"}]},
    )
    changed = client.v1.subscriptions.retrieve(sub_id)
    assert changed.metadata["plan"] == "starter"  # written at sign-up; still says a paid plan
    response = post_event(api, subscription_event("customer.subscription.updated", changed))
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "unknown_price"
    license_record = services.db.transact(lambda tr: get_license(tr, tenant_id))
    assert license_record["plan"] == "free"  # the sign-up's webhook never came: still free
    assert me(api, body)["plan"] == "free"
