"""Downgrade below the running workspaces (with the workspaces area's real hooks), and the
ordering rules of ``shared.billing.licensing.decide`` on their own."""

from __future__ import annotations

import json
import threading
from typing import Any

from shared.accounts.licenses import get_license
from shared.billing.licensing import decide
from shared.events import RECONCILE_TOPIC, decode_event
from shared.store.keys import TENANTS
from shared.workspaces import model
from shared.workspaces.config import WorkspaceSettings
from shared.workspaces.service import CreateWorkspace, WorkspaceService
from tests.billing.conftest import post_event, subscription_event
from tests.conftest import register


def test_downgrade_below_running_workspaces_stops_the_newest_and_deletes_nothing(
    api, billing, services, localstripe, clock, events
):
    body = register(api, "many@example.com", plan="starter", payment_method_id="pm_card_visa")
    sub_id = body["subscription"]["id"]
    sub = localstripe.client.v1.subscriptions.retrieve(sub_id)
    assert post_event(api, subscription_event("customer.subscription.created", sub)).status_code
    claims = services.accounts.authenticate(body["access_token"])
    workspaces = WorkspaceService(services.db, events, clock, services.tokens, WorkspaceSettings())
    created = []
    for name in ("first", "second", "third"):  # starter allows three running
        created.append(workspaces.create(claims, CreateWorkspace(name=name))["workspace_id"])
        clock.advance(1)
    events.drain()
    published: list[dict[str, Any]] = []
    lock = threading.Lock()

    def record(event: Any) -> None:
        with lock:
            published.append(decode_event(event).data)

    events.subscribe(RECONCILE_TOPIC, record, name="billing-test")

    canceled = localstripe.client.v1.subscriptions.cancel(sub_id)
    event = subscription_event("customer.subscription.deleted", canceled)
    response = post_event(api, event)
    assert response.get_json()["outcome"] == "applied"
    events.drain()

    tid, uid = body["user"]["tenant_id"], body["user"]["user_id"]
    stored = {
        ws["workspace_id"]: ws
        for ws in services.db.transact(lambda tr: model.list_for_user(tr, tid, uid))
    }
    assert set(stored) == set(created)  # nothing deleted
    assert stored[created[0]]["desired"] == "running"  # the oldest keeps the free plan's slot
    assert [stored[w]["desired"] for w in created[1:]] == ["stopped", "stopped"]
    assert sorted(m["workspace_id"] for m in published) == sorted(created[1:])
    assert all(m["reason"] == "plan_limit" and m["tenant_id"] == tid for m in published)

    # A redelivery changes nothing and re-sends the reconcile requests (harmless, level-triggered).
    published.clear()
    again = post_event(api, event)
    assert again.get_json()["outcome"] == "duplicate"
    events.drain()
    assert sorted(m["workspace_id"] for m in published) == sorted(created[1:])
    after = services.db.transact(lambda tr: model.list_for_user(tr, tid, uid))
    assert sorted(ws["desired"] for ws in after) == ["running", "stopped", "stopped"]


def test_plan_switch_in_the_portal_downgrades_through_subscription_updated(
    api, billing, services, localstripe, clock, events
):
    """pro -> starter with four running: customer.subscription.updated stops the newest one."""
    body = register(api, "switch@example.com", plan="pro", payment_method_id="pm_card_visa")
    sub_id = body["subscription"]["id"]
    client = localstripe.client
    sub = client.v1.subscriptions.retrieve(sub_id)
    assert post_event(api, subscription_event("customer.subscription.created", sub)).status_code
    claims = services.accounts.authenticate(body["access_token"])
    workspaces = WorkspaceService(services.db, events, clock, services.tokens, WorkspaceSettings())
    created = []
    for name in ("a", "b", "c", "d"):
        created.append(workspaces.create(claims, CreateWorkspace(name=name))["workspace_id"])
        clock.advance(1)
    events.drain()

    item = sub["items"]["data"][0]["id"]
    switched = client.v1.subscriptions.update(
        sub_id, params={"items": [{"id": item, "plan": localstripe.prices["starter"][0]}]}
    )
    response = post_event(api, subscription_event("customer.subscription.updated", switched))
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "applied"
    events.drain()

    tid, uid = body["user"]["tenant_id"], body["user"]["user_id"]
    license_record = services.db.transact(lambda tr: get_license(tr, tid))
    assert (license_record["plan"], license_record["status"]) == ("starter", "active")
    stored = {
        ws["workspace_id"]: ws["desired"]
        for ws in services.db.transact(lambda tr: model.list_for_user(tr, tid, uid))
    }
    assert set(stored) == set(created)  # nothing deleted
    assert [stored[w] for w in created] == ["running", "running", "running", "stopped"]
    begin, end = TENANTS[tid].range("license_history")
    rows = services.db.transact(lambda tr: tr.get_range(begin, end))
    assert sorted(json.loads(v)["action"] for _, v in rows) == [
        "activated",
        "created",
        "plan_changed",
    ]


# -- decide(): the ordering rules ---------------------------------------------------------------
SUB = {"id": "sub_1", "customer": "cus_1", "status": "active", "cancel_at_period_end": False}
NOW = 1_800_000_000.0
GRACE = 7 * 24 * 3600


def license_after(sub: dict[str, Any], current: dict[str, Any] | None, created: int) -> Any:
    return decide(current, sub, "starter", created, NOW, GRACE)


def applied(decision: Any) -> dict[str, Any]:
    assert decision.outcome == "applied"
    return {"plan": decision.plan, "status": decision.status, **(decision.extra or {})}


def test_an_older_event_for_the_same_subscription_changes_nothing():
    active = applied(license_after(SUB, None, 200))
    older = license_after({**SUB, "status": "past_due"}, active, 199)
    assert older.outcome == "stale"


def test_same_second_events_apply_current_state():
    active = applied(license_after(SUB, None, 200))
    assert license_after({**SUB, "status": "past_due"}, active, 200).outcome == "applied"


def test_a_canceled_subscription_never_comes_back():
    canceled = applied(license_after({**SUB, "status": "canceled"}, None, 300))
    assert license_after(SUB, canceled, 400).outcome == "stale"


def test_grace_starts_once_and_is_kept_while_past_due():
    active = applied(license_after(SUB, None, 100))
    failing = applied(license_after({**SUB, "status": "past_due"}, active, 200))
    assert failing["grace_until"] == NOW + GRACE
    later = decide(failing, {**SUB, "status": "past_due"}, "starter", 300, NOW + 3600, GRACE)
    assert later.outcome == "unchanged"
    assert later.extra["grace_until"] == NOW + GRACE


def test_incomplete_and_canceled_grant_free_and_keep_the_stripe_plan():
    pending = applied(license_after({**SUB, "status": "incomplete"}, None, 100))
    assert (pending["plan"], pending["status"], pending["stripe_plan"]) == (
        "free",
        "incomplete",
        "starter",
    )
    gone = applied(license_after({**SUB, "status": "incomplete_expired"}, pending, 200))
    assert (gone["plan"], gone["status"]) == ("free", "canceled")


def test_another_subscription_ending_does_not_end_a_live_one():
    live = applied(license_after(SUB, None, 100))
    other = {**SUB, "id": "sub_2", "status": "canceled"}
    assert license_after(other, live, 500).outcome == "other_subscription"
    other_pending = {**SUB, "id": "sub_2", "status": "incomplete"}
    assert license_after(other_pending, live, 500).outcome == "other_subscription"
    other_live = {**SUB, "id": "sub_2", "status": "active"}
    switched = applied(decide(live, other_live, "pro", 50, NOW, GRACE))
    assert (switched["plan"], switched["stripe_subscription_id"]) == ("pro", "sub_2")
