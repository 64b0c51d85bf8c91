"""``make dev`` end to end: localstripe's own signed webhooks, and the Checkout/Portal stand-in."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.conftest import free_port
from tests.test_devstack import running_stack

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: Any) -> str:
    return str(tmp_path_factory.mktemp("devstack") / "data")


@pytest.fixture(scope="module")
def stack(data_dir: str) -> Iterator[str]:
    """One ``python -m devstack`` for the module: starting it takes seconds."""
    with running_stack(data_dir, free_port()) as url:
        yield url


def wait_for(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def me(url: str, token: str) -> dict[str, Any]:
    response = requests.get(
        f"{url}/api/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def workspaces(url: str, auth: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = requests.get(f"{url}/api/workspaces", headers=auth, timeout=10)
    assert response.status_code == 200, response.text
    return {ws["name"]: ws for ws in response.json()["workspaces"]}


def volumes(data_dir: str, user_id: str) -> set[str]:
    """The user's PersistentVolumeClaims, read from the local Kubernetes API stand-in."""
    from kubernetes import client, config

    from shared.provisioner.slugs import user_namespace

    api = client.CoreV1Api(config.new_client_from_config(os.path.join(data_dir, "kubeconfig")))
    found = api.list_namespaced_persistent_volume_claim(user_namespace(user_id))
    return {pvc.metadata.name for pvc in found.items}


def test_paid_signup_activates_by_webhook_and_portal_cancel_returns_to_free(stack, data_dir):
    url = stack
    health = requests.get(f"{url}/healthz", timeout=5).json()
    assert any(line.startswith("localstripe ") for line in health["components"])

    signup = requests.post(
        f"{url}/api/auth/register",
        json={
            "email": "paid@example.com",
            "password": PASSWORD,
            "plan": "starter",
            "payment_method_id": "pm_card_visa",
        },
        timeout=30,
    )
    assert signup.status_code == 201, signup.text
    body = signup.json()
    assert body["subscription"]["status"] == "active"
    token = body["access_token"]
    # localstripe delivers customer.subscription.created, signed, about a second later.
    assert wait_for(lambda: me(url, token)["plan"] == "starter"), me(url, token)

    auth = {"Authorization": f"Bearer {token}"}
    # Two running workspaces on starter (it allows three), both ready with their volumes.
    for name in ("older", "newer"):
        made = requests.post(f"{url}/api/workspaces", json={"name": name}, headers=auth, timeout=30)
        assert made.status_code == 202, made.text
        time.sleep(1.1)  # distinct creation times: "newest first" is then unambiguous
    assert wait_for(
        lambda: {ws["status"] for ws in workspaces(url, auth).values()} == {"ready"}, 60
    ), workspaces(url, auth)
    user_id = body["user"]["user_id"]
    claims_before = volumes(data_dir, user_id)
    assert len(claims_before) == 2

    portal = requests.post(f"{url}/api/billing/portal", headers=auth, timeout=30)
    assert portal.status_code == 200, portal.text
    page = requests.get(portal.json()["url"], timeout=10)
    assert page.status_code == 200
    subscription = body["subscription"]["id"]
    assert subscription in page.text
    cancel_action = re.search(r'action="(/portal/[^"]+/cancel)"', page.text).group(1)
    standin = portal.json()["url"].split("/portal/")[0]
    done = requests.post(
        standin + cancel_action,
        data={"subscription": subscription},
        allow_redirects=False,
        timeout=30,
    )
    assert done.status_code == 303
    # localstripe sends customer.subscription.deleted: back to free, account intact.
    assert wait_for(lambda: me(url, token)["plan"] == "free"), me(url, token)
    found = me(url, token)
    assert found["license"]["status"] == "canceled"
    assert found["limits"] == {
        "llm_requests_per_month": 100,
        "storage_gb": 1,
        "workspace_hours_per_month": 10,
        "running_workspaces": 1,
    }
    assert found["user"]["email"] == "paid@example.com"
    # Free allows one running workspace: the newer one stops, the older keeps running, and
    # nothing is deleted (both workspaces and both volumes remain).
    assert wait_for(lambda: workspaces(url, auth)["newer"]["status"] == "stopped", 60), workspaces(
        url, auth
    )
    after = workspaces(url, auth)
    assert set(after) == {"older", "newer"}
    assert after["newer"]["desired_state"] == "stopped"
    assert (after["older"]["desired_state"], after["older"]["status"]) == ("running", "ready")
    assert volumes(data_dir, user_id) == claims_before


def test_checkout_stand_in_ends_with_a_signed_webhook_that_activates(stack):
    url = stack
    signup = requests.post(
        f"{url}/api/auth/register",
        json={"email": "later@example.com", "password": PASSWORD},
        timeout=30,
    )
    token = signup.json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    checkout = requests.post(
        f"{url}/api/billing/checkout", json={"plan": "pro"}, headers=auth, timeout=30
    )
    assert checkout.status_code == 200, checkout.text
    page_url = checkout.json()["url"]
    assert "Coditect Pro" in requests.get(page_url, timeout=10).text
    paid = requests.post(page_url, data={"card": "pm_card_visa"}, allow_redirects=False, timeout=30)
    assert paid.status_code == 303
    assert paid.headers["Location"] == f"{url}/billing/success"
    assert me(url, token)["plan"] == "pro"  # the stand-in's webhook was delivered in-line
