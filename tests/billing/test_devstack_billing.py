"""``make dev`` end to end: localstripe's own signed webhooks, and the Checkout/Portal stand-in."""

from __future__ import annotations

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
def stack(tmp_path_factory: Any) -> Iterator[str]:
    """One ``python -m devstack`` for the module: starting it takes seconds."""
    with running_stack(str(tmp_path_factory.mktemp("devstack") / "data"), free_port()) as url:
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


def test_paid_signup_activates_by_webhook_and_portal_cancel_returns_to_free(stack):
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
    assert found["user"]["email"] == "paid@example.com"


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
