"""When a past-due license's grace ends, the scheduled pass stops the running workspaces beyond
the free plan's limit (newest first, nothing deleted), found through the grace-deadline index."""

from __future__ import annotations

import json
import threading
from typing import Any

from shared.billing.grace import INDEX
from shared.events import RECONCILE_TOPIC, decode_event
from shared.store.keys import INDEXES, TENANTS
from shared.workspaces import model
from shared.workspaces.config import WorkspaceSettings
from shared.workspaces.idle import IdleCleanup
from tests.billing.conftest import YEARLY_STARTER, make_event, post_event
from tests.billing.test_webhooks import DAY, activate, paid_user
from tests.conftest import bearer


def grace_entries(services: Any) -> list[tuple]:
    begin, end = INDEXES.range(INDEX)
    rows = services.db.transact(lambda tr: tr.get_range(begin, end))
    return [(*INDEXES.unpack(k)[1:], json.loads(v)) for k, v in rows]


def fail_renewal(api: Any, localstripe: Any, sub_id: str) -> tuple[Any, str, str]:
    """A renewal charged to a failing card: the subscription turns past_due, the webhook says so."""
    client = localstripe.client
    sub = client.v1.subscriptions.retrieve(sub_id)
    good = client.v1.customers.retrieve(sub.customer).invoice_settings.default_payment_method
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
    assert renewed.status == "past_due"
    invoice = client.v1.invoices.retrieve(renewed.latest_invoice)
    failed = post_event(api, make_event("invoice.payment_failed", invoice.to_dict()))
    assert failed.get_json()["outcome"] == "applied"
    return invoice, sub.customer, good


def three_workspaces(api: Any, body: dict[str, Any], clock: Any) -> list[str]:
    ids = []
    for name in ("first", "second", "third"):  # starter allows three running
        response = api.post("/api/workspaces", json={"name": name}, headers=bearer(body))
        assert response.status_code == 202, response.get_data(as_text=True)
        ids.append(response.get_json()["workspace"]["workspace_id"])
        clock.advance(1)
    return ids


def desired(services: Any, tid: str, uid: str) -> dict[str, str]:
    found = services.db.transact(lambda tr: model.list_for_user(tr, tid, uid))
    return {ws["workspace_id"]: ws["desired"] for ws in found}


def test_grace_end_stops_the_newest_workspaces_beyond_the_free_limit(
    api, billing, services, localstripe, clock, events
):
    body, sub_id = paid_user(api, "grace@example.com")
    tid, uid = body["user"]["tenant_id"], body["user"]["user_id"]
    activate(api, localstripe, sub_id)
    created = three_workspaces(api, body, clock)
    events.drain()
    fail_renewal(api, localstripe, sub_id)
    deadline = clock.now() + 7 * DAY
    assert grace_entries(services) == [(deadline, tid, {"user_id": uid})]

    published: list[dict[str, Any]] = []
    lock = threading.Lock()

    def record(event: Any) -> None:
        with lock:
            published.append(decode_event(event).data)

    events.subscribe(RECONCILE_TOPIC, record, name="grace-test")
    cleanup = IdleCleanup(services.db, events, clock, WorkspaceSettings(idle_seconds=30 * DAY))
    clock.advance(7 * DAY - 60)
    assert cleanup.run().get("grace_expired", 0) == 0
    assert set(desired(services, tid, uid).values()) == {"running"}  # still within grace

    clock.advance(60)
    result = cleanup.run()
    assert (result["grace_expired"], result["stopped_grace"]) == (1, 2)
    events.drain()
    now_desired = desired(services, tid, uid)
    assert set(now_desired) == set(created)  # nothing deleted
    assert [now_desired[w] for w in created] == ["running", "stopped", "stopped"]
    stops = [m for m in published if m["reason"] == "plan_limit"]
    assert sorted(m["workspace_id"] for m in stops) == sorted(created[1:])
    assert grace_entries(services) == []

    begin, end = TENANTS[tid].range("audit")
    audit = [json.loads(v) for _, v in services.db.transact(lambda tr: tr.get_range(begin, end))]
    expired = [a for a in audit if a.get("type") == "billing.grace_expired"]
    assert len(expired) == 1, audit
    assert expired[0]["running_limit"] == 1 and sorted(expired[0]["stopped"]) == sorted(created[1:])
    begin, end = TENANTS[tid].range("license_history")
    history = [json.loads(v) for _, v in services.db.transact(lambda tr: tr.get_range(begin, end))]
    assert history[-1]["action"] == "grace_expired"
    assert (history[-1]["plan"], history[-1]["status"]) == ("starter", "past_due")

    # The next pass has nothing to do; a start beyond the free limit is refused.
    assert cleanup.run().get("grace_expired", 0) == 0
    token, _ = services.tokens.issue(
        typ="access", sub=uid, tid=tid, aud=services.settings.api_audience, ttl=300
    )
    refused = api.post(
        f"/api/workspaces/{created[2]}/start", headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "plan_limit"


def test_recovery_within_grace_removes_the_deadline(
    api, billing, services, localstripe, clock, events
):
    body, sub_id = paid_user(api, "recover@example.com")
    tid, uid = body["user"]["tenant_id"], body["user"]["user_id"]
    activate(api, localstripe, sub_id)
    three_workspaces(api, body, clock)
    invoice, customer, good = fail_renewal(api, localstripe, sub_id)
    assert len(grace_entries(services)) == 1

    client = localstripe.client
    client.v1.customers.update(
        customer, params={"invoice_settings": {"default_payment_method": good}}
    )
    paid = client.v1.invoices.pay(invoice.id)
    recovered = post_event(api, make_event("invoice.payment_succeeded", paid.to_dict()))
    assert recovered.get_json()["outcome"] == "applied"
    assert grace_entries(services) == []

    clock.advance(8 * DAY)
    cleanup = IdleCleanup(services.db, events, clock, WorkspaceSettings(idle_seconds=30 * DAY))
    assert cleanup.run().get("grace_expired", 0) == 0
    assert set(desired(services, tid, uid).values()) == {"running"}


def test_a_stale_entry_is_cleared_without_stopping_anything(services, clock, events):
    """An entry whose license moved on (overlapping writers, a lost clear) is only removed."""
    from shared.accounts.licenses import write_license
    from shared.billing.grace import grace_key

    tid = "t-stale"
    services.db.transact(
        lambda tr: write_license(
            tr, tid, clock.now(), plan="starter", status="active", action="t", reason="t"
        )
    )
    services.db.transact(
        lambda tr: tr.set(grace_key(int(clock.now()), tid), json.dumps({"user_id": "u"}).encode())
    )
    clock.advance(1)
    cleanup = IdleCleanup(services.db, events, clock, WorkspaceSettings())
    assert cleanup.run().get("grace_expired", 0) == 0
    assert grace_entries(services) == []
