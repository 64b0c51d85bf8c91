"""Where a provider's client id comes from: the secrets port, else (deprecated) the environment.

Driven through the oauth function (``/start``), with the real local secrets port: files under the
data dir, or ``CODITECT_SECRET_<NAME>`` variables.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest

from shared.oauth.config import OAuthSettings
from shared.oauth.service import OAuthService
from shared.secret_names import (
    GITHUB_OAUTH_CLIENT_ID,
    GITHUB_OAUTH_CLIENT_SECRET,
    GOOGLE_OAUTH_CLIENT_ID,
    GOOGLE_OAUTH_CLIENT_SECRET,
)
from tests.oauth.conftest import (
    GITHUB_CLIENT_ID,
    GOOGLE_CLIENT_ID,
    dump_store,
    put_clients,
    query,
)


def use(services: Any, settings: OAuthSettings) -> None:
    services.use(oauth=OAuthService.build(services, settings, mail=lambda: services.mail))


def start(api: Any, provider: str) -> Any:
    return api.get(f"/api/auth/oauth/{provider}/start")


def authorize_client_id(api: Any, provider: str) -> str:
    response = start(api, provider)
    assert response.status_code == 302, response.get_data(as_text=True)
    return query(response.headers["Location"])["client_id"]


def assert_not_configured(response: Any) -> None:
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "provider_not_configured"
    assert "Set-Cookie" not in response.headers


def test_client_ids_come_from_the_secrets_port(api, services, oauth_settings):
    put_clients(services, "google", "github")
    use(services, oauth_settings)  # no client id in the settings at all
    assert authorize_client_id(api, "google") == GOOGLE_CLIENT_ID
    assert authorize_client_id(api, "github") == GITHUB_CLIENT_ID
    # A new version of the id is used from the next sign-in on (the port is read each time).
    services.secrets.add_version(GITHUB_OAUTH_CLIENT_ID, b"  rotated-github-client\n")
    assert authorize_client_id(api, "github") == "rotated-github-client"


def test_a_provider_without_a_client_id_is_not_configured(api, services, oauth_settings):
    put_clients(services, "google", "github", parts=(1,))  # secrets only
    services.secrets.add_version(GOOGLE_OAUTH_CLIENT_ID, b"   \n")  # blank counts as missing
    use(services, oauth_settings)
    before = dump_store(services)
    for provider in ("google", "github"):
        assert_not_configured(start(api, provider))
        back = api.get(f"/api/auth/oauth/{provider}/callback?code=c&state=s")
        assert back.status_code == 302
        assert query(back.headers["Location"])["oauth_error"] == "provider_not_configured"
    assert dump_store(services) == before


def test_a_provider_without_a_client_secret_is_not_configured(api, services, oauth_settings):
    put_clients(services, "google", "github", parts=(0,))  # ids only
    use(services, oauth_settings)
    for provider in ("google", "github"):
        assert_not_configured(start(api, provider))


def test_environment_client_id_is_a_fallback_for_older_deployments(
    api, services, oauth_settings, caplog
):
    legacy = OAuthSettings.from_env(
        {"CODITECT_GOOGLE_CLIENT_ID": "legacy-google", "CODITECT_GITHUB_CLIENT_ID": "legacy-github"}
    )
    assert (legacy.google_client_id, legacy.github_client_id) == ("legacy-google", "legacy-github")
    settings = replace(
        oauth_settings, google_client_id="legacy-google", github_client_id="legacy-github"
    )
    put_clients(services, "google", "github", parts=(1,))  # the port has secrets, no ids
    use(services, settings)
    with caplog.at_level(logging.WARNING, logger="coditect.oauth"):
        assert authorize_client_id(api, "google") == "legacy-google"
        assert authorize_client_id(api, "google") == "legacy-google"
        assert authorize_client_id(api, "github") == "legacy-github"
    deprecated = [r for r in caplog.records if "deprecated" in r.getMessage()]
    assert [r.fields["provider"] for r in deprecated] == ["google", "github"]  # once each
    # Once the id is in the port, the port wins over the environment.
    services.secrets.add_version(GOOGLE_OAUTH_CLIENT_ID, GOOGLE_CLIENT_ID.encode())
    assert authorize_client_id(api, "google") == GOOGLE_CLIENT_ID
    # The fallback never stands in for a missing secret.
    services.secrets.add_version(GITHUB_OAUTH_CLIENT_SECRET, b"")
    assert_not_configured(start(api, "github"))


@pytest.fixture
def port_env(monkeypatch: Any) -> None:
    """The client given as CODITECT_SECRET_* variables, before the services read the environment."""
    for name, value in (
        (GOOGLE_OAUTH_CLIENT_ID, "env-google-client"),
        (GOOGLE_OAUTH_CLIENT_SECRET, "env-google-secret"),
        (GITHUB_OAUTH_CLIENT_ID, "env-github-client"),
    ):
        monkeypatch.setenv("CODITECT_SECRET_" + name.upper().replace("-", "_"), value)
    monkeypatch.delenv("CODITECT_SECRET_GITHUB_OAUTH_CLIENT_SECRET", raising=False)


@pytest.mark.usefixtures("port_env")
def test_local_secrets_read_client_ids_from_coditect_secret_variables(
    api, services, oauth_settings
):
    use(services, oauth_settings)
    assert authorize_client_id(api, "google") == "env-google-client"
    client = services.oauth.client("google")
    assert (client.client_id, client.client_secret) == ("env-google-client", "env-google-secret")
    assert_not_configured(start(api, "github"))  # an id without a secret
