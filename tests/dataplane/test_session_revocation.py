"""Sign out everywhere through `python -m devstack`: the real sidecar learns the user's
``sessions_valid_after`` from its heartbeat's reply and ends the IDE session launched before it;
the access token from before mints no new launch; a new sign-in launches again."""

from __future__ import annotations

import asyncio
import time
import uuid

import requests

from tests.dataplane.conftest import PASSWORD, Stack, loopback, wait_until
from tests.dataplane.test_dataplane import COOKIE, echo_with_cookie, launch_and_load


def sign_in(stack: Stack, path: str, email: str) -> dict[str, str]:
    response = requests.post(
        f"{stack.url}/api/auth/{path}", json={"email": email, "password": PASSWORD}, timeout=10
    )
    assert response.status_code in (200, 201), response.text
    return {"Authorization": "Bearer " + response.json()["access_token"]}


def test_sign_out_everywhere_ends_the_ide_session(stack: Stack):
    email = f"revoke-{uuid.uuid4().hex[:8]}@example.com"
    before = sign_in(stack, "register", email)
    wid = stack.create(before, "revoke")
    origin = stack.wait_status(before, wid, "ready")["url"]
    cookie = asyncio.run(echo_with_cookie(stack.launch(before, wid), origin))
    url, host = loopback(origin + "/")
    with_cookie = {**host, "Cookie": f"{COOKIE}={cookie}"}
    assert requests.get(url, headers=with_cookie, timeout=5).status_code == 200

    time.sleep(1.1)  # access tokens carry whole seconds: the revocation is a later one
    revoked = requests.post(f"{stack.url}/api/auth/sessions/revoke-all", headers=before, timeout=10)
    assert revoked.status_code == 204
    refused = stack.post(before, wid, "launch")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "session_revoked"

    beacon_url, _ = loopback(origin + "/__coditect/activity")
    beacon = {**with_cookie, "Origin": origin, "Sec-Fetch-Site": "same-origin"}

    def session_ended() -> bool:
        # Input makes the sidecar send a heartbeat; its reply carries the revocation time.
        requests.post(beacon_url, headers=beacon, timeout=5)
        return requests.get(url, headers=with_cookie, timeout=5).status_code == 401

    wait_until(session_ended, 15, "IDE session revoked")
    after = sign_in(stack, "login", email)
    assert "Coditect workspace" in launch_and_load(stack.launch(after, wid), origin)
