"""The local stack's sign-in stand-ins: ``make dev`` signs people in with Google and GitHub.

Runs the real local stack (waitress, all functions, components) and drives both providers' pages
over HTTP the way a browser would. Browsers send Secure cookies to http://127.0.0.1 and
localhost (trustworthy origins); Python's cookie jar does not, so the cookie is carried by hand.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devstack import stack as stack_module
from devstack.stack import LocalStack
from shared.oauth.service import CLIENT_ID_NAMES, SECRET_NAMES
from shared.secrets import LocalSecrets
from shared.settings import Settings
from tests.conftest import free_port
from tests.oauth.conftest import query

TIMEOUT = 10


CLIENT_ENV = (
    "CODITECT_GOOGLE_CLIENT_ID",
    "CODITECT_GITHUB_CLIENT_ID",
    *(LocalSecrets.env_name(n) for n in (*CLIENT_ID_NAMES.values(), *SECRET_NAMES.values())),
)


@pytest.fixture
def clean_env(monkeypatch: Any) -> Any:
    """No client configured by the developer's environment, unless the test sets one."""
    for name in CLIENT_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def run_stack(tmp_path: Any) -> LocalStack:
    port = free_port()
    # As `make dev` reads them: the environment (the test's variables) with the stack's origin.
    settings = Settings.from_env(
        {
            **os.environ,
            "CODITECT_DATA_DIR": str(tmp_path / "data"),
            "CODITECT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        }
    )
    # Only this area's component: other areas' stand-ins are their tests' business.
    oauth_only = [stack_module._component("devstack.oauth", "start_oauth_stand_ins")]
    local = LocalStack(settings, port=port, threads=4, components=oauth_only)
    local.start()
    return local


@pytest.fixture
def stack(tmp_path: Any, clean_env: Any) -> Iterator[LocalStack]:
    local = run_stack(tmp_path)
    yield local
    local.stop()


def begin(stack: LocalStack, provider: str) -> tuple[str, str]:
    response = requests.get(
        f"{stack.url}/api/auth/oauth/{provider}/start", allow_redirects=False, timeout=TIMEOUT
    )
    assert response.status_code == 302, response.text
    # The state cookie and the binding cookie, as a browser sends them back (the state cookie is
    # Secure, which requests' jar would not send to a plain-http origin).
    cookie = "; ".join(c.split(";")[0] for c in response.raw.headers.getlist("Set-Cookie"))
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
        f"{stack.url}/api/auth/oauth/exchange",
        json={"code": landed["oauth_code"]},
        headers={"Cookie": cookie},
        timeout=TIMEOUT,
    )
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


def test_make_dev_signs_in_with_google_and_github(stack):
    assert any("oidc-provider-mock" in line for line in stack.started)
    assert any("GitHub sign-in stand-in" in line for line in stack.started)
    # The stand-ins' clients are configured the way production's are: in the secrets port.
    port = stack.services.secrets
    assert port.get("google-oauth-client-id") == b"coditect-local-google"
    assert port.get("github-oauth-client-id") == b"coditect-local-github"
    assert port.get("google-oauth-client-secret") and port.get("github-oauth-client-secret")
    assert stack.services.oauth.config.client_id("github") == ""
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


def test_a_real_client_in_the_secrets_port_or_the_old_variable_replaces_the_stand_in(
    tmp_path, clean_env
):
    # Google: a real client through the secrets port's variables. GitHub: only the deprecated
    # CODITECT_GITHUB_CLIENT_ID (its secret through the port). Neither gets a stand-in.
    clean_env.setenv("CODITECT_SECRET_GOOGLE_OAUTH_CLIENT_ID", "real.apps.googleusercontent.com")
    clean_env.setenv("CODITECT_SECRET_GOOGLE_OAUTH_CLIENT_SECRET", "real-google-secret")
    clean_env.setenv("CODITECT_GITHUB_CLIENT_ID", "real-github-client")
    clean_env.setenv("CODITECT_SECRET_GITHUB_OAUTH_CLIENT_SECRET", "real-github-secret")
    local = run_stack(tmp_path)
    try:
        assert not any("stand-in" in line for line in local.started), local.started
        assert "Google sign-in: client from the secrets port" in local.started
        assert "GitHub sign-in: client id from the environment (deprecated)" in local.started
        # Nothing was written to the port for them.
        assert local.services.secrets.versions("github-oauth-client-id") == []
        start = requests.get(
            f"{local.url}/api/auth/oauth/github/start", allow_redirects=False, timeout=TIMEOUT
        )
        assert start.status_code == 302
        location = start.headers["Location"]
        assert location.startswith("https://github.com/login/oauth/authorize?")
        assert query(location)["client_id"] == "real-github-client"
    finally:
        local.stop()


def test_stand_in_ids_kept_from_an_earlier_run_win_over_the_old_variable(tmp_path, clean_env):
    first = run_stack(tmp_path)  # writes the stand-ins' ids into .../secrets
    first.stop()
    clean_env.setenv("CODITECT_GOOGLE_CLIENT_ID", "real.apps.googleusercontent.com")
    local = run_stack(tmp_path)
    try:
        # The port holds the stand-in's id and the port comes first: the stand-in runs, and the
        # stack says why the variable is not used.
        assert any("oidc-provider-mock" in line for line in local.started)
        assert any("CODITECT_GOOGLE_CLIENT_ID ignored" in line for line in local.started)
        authorize, _ = begin(local, "google")
        assert query(authorize)["client_id"] == "coditect-local-google"
        assert authorize.startswith("http://localhost:")
    finally:
        local.stop()
