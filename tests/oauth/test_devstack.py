"""The local stack's sign-in stand-ins: ``make dev`` signs people in with Google and GitHub.

Runs the real local stack (waitress, all functions, components) and drives both providers' pages
over HTTP the way a browser would. Browsers send Secure cookies to http://127.0.0.1 and
localhost (trustworthy origins); Python's cookie jar does not, so the cookie is carried by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devstack import stack as stack_module
from devstack.stack import LocalStack
from shared.settings import Settings
from tests.conftest import free_port
from tests.oauth.conftest import query

TIMEOUT = 10


@pytest.fixture
def stack(tmp_path: Any, monkeypatch: Any) -> Iterator[LocalStack]:
    for name in ("CODITECT_GOOGLE_CLIENT_ID", "CODITECT_GITHUB_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    port = free_port()
    settings = Settings(data_dir=str(tmp_path / "data"), public_url=f"http://127.0.0.1:{port}")
    # Only this area's component: other areas' stand-ins are their tests' business.
    oauth_only = [stack_module._component("devstack.oauth", "start_oauth_stand_ins")]
    local = LocalStack(settings, port=port, threads=4, components=oauth_only)
    local.start()
    yield local
    local.stop()


def begin(stack: LocalStack, provider: str) -> tuple[str, str]:
    response = requests.get(
        f"{stack.url}/api/auth/oauth/{provider}/start", allow_redirects=False, timeout=TIMEOUT
    )
    assert response.status_code == 302, response.text
    cookie = response.headers["Set-Cookie"].split(";")[0]
    return response.headers["Location"], cookie


def land(stack: LocalStack, callback_url: str, cookie: str) -> dict[str, Any]:
    assert callback_url.startswith(f"{stack.url}/api/auth/oauth/")
    back = requests.get(
        callback_url, headers={"Cookie": cookie}, allow_redirects=False, timeout=TIMEOUT
    )
    assert back.status_code == 302
    landed = query(back.headers["Location"])
    assert "oauth_code" in landed, landed
    tokens = requests.post(
        f"{stack.url}/api/auth/oauth/exchange", json={"code": landed["oauth_code"]}, timeout=TIMEOUT
    )
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


def test_make_dev_signs_in_with_google_and_github(stack):
    assert any("oidc-provider-mock" in line for line in stack.started)
    assert any("GitHub sign-in stand-in" in line for line in stack.started)
    # Google: the stand-in's sign-in page, then "grace@example.com" is picked
    authorize, cookie = begin(stack, "google")
    page = requests.get(authorize, timeout=TIMEOUT)
    assert page.status_code == 200 and "grace@example.com" in page.text
    chosen = requests.post(
        authorize, data={"sub": "grace@example.com"}, allow_redirects=False, timeout=TIMEOUT
    )
    grace = land(stack, chosen.headers["Location"], cookie)
    assert grace["sign_in"] == {"provider": "google", "result": "signed_up"}
    # GitHub: an existing password user links by verified email
    registered = requests.post(
        f"{stack.url}/api/auth/register",
        json={"email": "ada@example.com", "password": "correct horse battery"},
        timeout=TIMEOUT,
    )
    assert registered.status_code == 201
    authorize, cookie = begin(stack, "github")
    page = requests.get(authorize, timeout=TIMEOUT)
    assert page.status_code == 200
    action = re.search(r'action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    chosen = requests.post(
        authorize.split("/login/")[0] + action,
        data={"user": "1001"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert chosen.status_code == 302
    ada = land(stack, chosen.headers["Location"], cookie)
    assert ada["sign_in"] == {"provider": "github", "result": "linked"}
    assert ada["user"]["user_id"] == registered.json()["user"]["user_id"]
