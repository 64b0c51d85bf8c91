"""What the accounts, billing and workspace code records, through the real functions in process,
and the running-workspaces count read from the store's index."""

from __future__ import annotations

import dataclasses

from shared import metrics
from shared.store import Transaction
from shared.workspaces import model
from shared.workspaces.model import WorkspaceRecord
from shared.workspaces.stats import running_by_plan
from tests.conftest import register

PASSWORD = "correct horse battery"


def test_sign_ups_and_sign_ins_by_outcome(api, services, recorded):
    services.settings = dataclasses.replace(services.settings, login_max_failures=2)
    register(api, "ada@example.com")
    taken = api.post("/api/auth/register", json={"email": "ada@example.com", "password": PASSWORD})
    assert taken.status_code == 409
    assert recorded.of(metrics.SIGNUPS) == [
        (1.0, {"method": "password", "outcome": "success"}),
        (1.0, {"method": "password", "outcome": "failure"}),
    ]
    login = {"email": "ada@example.com", "password": PASSWORD}
    assert api.post("/api/auth/login", json=login).status_code == 200
    wrong = {**login, "password": "not the password"}
    assert [api.post("/api/auth/login", json=wrong).status_code for _ in range(3)] == [
        401,
        401,
        429,
    ]
    assert [labels["outcome"] for _, labels in recorded.of(metrics.LOGINS)] == [
        "success",
        "failure",
        "failure",
        "throttled",
    ]


def test_webhook_events_without_a_valid_signature_are_counted_as_rejected(api, recorded):
    response = api.post(
        "/webhooks/stripe", data=b'{"id": "evt_1"}', content_type="application/json"
    )
    assert response.status_code == 400
    assert recorded.of(metrics.WEBHOOK_EVENTS) == [
        (1.0, {"type": "unverified", "outcome": "rejected"})
    ]
    statuses = [labels for _, labels in recorded.of(metrics.HTTP_REQUEST_SECONDS)]
    assert statuses == [
        {"function": "stripe_webhook", "route": "stripe_webhook", "method": "POST", "status": "400"}
    ]


def workspace(wid: str, plan: str, status: str, desired: str = "running") -> WorkspaceRecord:
    return {
        "workspace_id": wid,
        "tenant_id": "t1",
        "user_id": "u1",
        "name": wid,
        "desired": desired,
        "generation": 1,
        "observed_generation": 1,
        "status": status,
        "reason": None,
        "plan": plan,
        "disk_gb": 1,
        "created_at": 1000.0,
        "start_requested_at": 1000.0,
        "running_since": None,
        "stopped_at": 2000.0 if desired == "stopped" else None,
        "last_active": None,
        "url": None,
        "activity_hash": "",
    }


def test_running_workspaces_are_counted_by_plan_across_pages(services):
    records = [
        workspace("w1", "free", "ready"),
        workspace("w2", "pro", "ready"),
        workspace("w3", "pro", "ready"),
        workspace("w4", "pro", "starting"),  # not running yet
        workspace("w5", "starter", "failed"),  # holds no compute
        workspace("w6", "starter", "stopped", desired="stopped"),
        workspace("w7", "pro", "ready"),
    ]

    def write(tr: Transaction) -> None:
        for ws in records:
            model.save(tr, ws, None, 1000.0)

    services.db.transact(write)
    expected = {"free": 1, "starter": 0, "pro": 3}
    assert running_by_plan(services.db, page=2) == expected
    assert running_by_plan(services.db) == expected
