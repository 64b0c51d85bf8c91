"""OAuth fixtures: a real OIDC server as Google, a pytest-httpserver GitHub, a configured service.

The OIDC stand-in stamps tokens with the real time, so these tests' ManualClock starts at the real
time; moving it forward is what expires id_tokens, state cookies and one-time codes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import oidc_provider_mock
import pytest
import requests

from shared.clock import ManualClock
from shared.oauth.config import OAuthSettings
from shared.oauth.service import OAuthService
from shared.secret_names import (
    GITHUB_OAUTH_CLIENT_ID,
    GITHUB_OAUTH_CLIENT_SECRET,
    GOOGLE_OAUTH_CLIENT_ID,
    GOOGLE_OAUTH_CLIENT_SECRET,
)

GOOGLE_CLIENT_ID = "coditect-test-google"
GITHUB_CLIENT_ID = "coditect-test-github"
GOOGLE_SECRET = "google-test-secret-value"
GITHUB_SECRET = "github-test-secret-value"
ID_TOKEN_SECONDS = 300  # the mock's id_token lifetime; state cookies live 600 s
# What the secrets port holds for each provider: (name, value) of its client id and secret.
CLIENTS = {
    "google": (
        (GOOGLE_OAUTH_CLIENT_ID, GOOGLE_CLIENT_ID),
        (GOOGLE_OAUTH_CLIENT_SECRET, GOOGLE_SECRET),
    ),
    "github": (
        (GITHUB_OAUTH_CLIENT_ID, GITHUB_CLIENT_ID),
        (GITHUB_OAUTH_CLIENT_SECRET, GITHUB_SECRET),
    ),
}

GOOGLE_USERS = [
    oidc_provider_mock.User(
        sub="g-new",
        claims={"email": "New.Person@Example.com", "email_verified": True,
                "given_name": "New", "family_name": "Person"},
    ),
    # A subject outside our own ids' alphabet (the OpenID spec allows any 255 characters).
    oidc_provider_mock.User(sub="linker.google+1@example.com",
                            claims={"email": "linker.google@example.com", "email_verified": True}),
    oidc_provider_mock.User(sub="g-ada",
                            claims={"email": "ada@example.com", "email_verified": True}),
    oidc_provider_mock.User(
        sub="g-unverified", claims={"email": "mallory@example.com", "email_verified": False}
    ),
    oidc_provider_mock.User(sub="g-victim",
                            claims={"email": "victim@example.com", "email_verified": True}),
]  # fmt: skip


@pytest.fixture(scope="session")
def oidc_server() -> Iterator[str]:
    with oidc_provider_mock.run_server_in_thread(
        port=0,
        user_claims=GOOGLE_USERS,
        access_token_max_age=timedelta(seconds=ID_TOKEN_SECONDS),
    ) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time())


@pytest.fixture
def oauth_settings(oidc_server: str, httpserver: Any) -> OAuthSettings:
    """Endpoints only: client ids and secrets come from the secrets port (:func:`put_clients`)."""
    return OAuthSettings(
        google_discovery_url=f"{oidc_server}/.well-known/openid-configuration",
        github_authorize_url=httpserver.url_for("/login/oauth/authorize"),
        github_token_url=httpserver.url_for("/login/oauth/access_token"),
        github_api_url=httpserver.url_for("/").rstrip("/"),
    )


@pytest.fixture
def oauth(services: Any, oauth_settings: OAuthSettings) -> OAuthService:
    """The service the oauth function will use, configured before the first request."""
    put_clients(services, "google", "github")
    service = OAuthService.build(services, oauth_settings, mail=lambda: services.mail)
    services.use(oauth=service)
    return service


def put_clients(services: Any, *providers: str, parts: tuple[int, ...] = (0, 1)) -> None:
    """Put the providers' client id (part 0) and/or secret (part 1) in the local secrets port."""
    for provider in providers:
        for part in parts:
            name, value = CLIENTS[provider][part]
            services.secrets.add_version(name, value.encode())


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def sign_in_at_google(authorize_url: str, sub: str) -> str:
    """What a user's browser does at the provider: returns the redirect back to our callback."""
    response = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def deny_at_google(authorize_url: str) -> str:
    response = requests.post(
        authorize_url, data={"action": "deny"}, allow_redirects=False, timeout=10
    )
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def dump_store(services: Any) -> list[tuple[bytes, bytes]]:
    return services.db.transact(lambda tr: tr.get_range(b"", b"\xff"))
