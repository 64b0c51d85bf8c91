"""The secrets port: local files/env, and Secret Manager's request shapes with the real client.

Secret Manager has no emulator; its real client (REST transport) talks to a local HTTP server
that answers as the API does, so the adapter's requests are checked over a real connection.
"""

from __future__ import annotations

import base64
import os
import stat

import pytest
from pytest_httpserver import HTTPServer

from shared.secrets import LocalSecrets, SecretManagerSecrets, SecretNotFound
from shared.tokens import Keyring, new_private_key_pem


def test_local_secrets_versions_newest_first_and_private_files(tmp_path):
    secrets = LocalSecrets(str(tmp_path), env={})
    assert secrets.versions("api-key") == []
    with pytest.raises(SecretNotFound):
        secrets.get("api-key")
    secrets.add_version("api-key", b"one")
    secrets.add_version("api-key", b"two")
    secrets.add_version("api-key", b"three")
    assert secrets.versions("api-key", 2) == [b"three", b"two"]
    assert secrets.get("api-key") == b"three"
    mode = os.stat(tmp_path / "api-key" / "1").st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_local_secrets_environment_wins(tmp_path):
    secrets = LocalSecrets(str(tmp_path), env={"CODITECT_SECRET_STRIPE_API_KEY": "sk_test_x"})
    secrets.add_version("stripe-api-key", b"from-file")
    assert secrets.get("stripe-api-key") == b"sk_test_x"


def _client(server: HTTPServer):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import secretmanager
    from google.cloud.secretmanager_v1.services.secret_manager_service.transports.rest import (
        SecretManagerServiceRestTransport,
    )

    transport = SecretManagerServiceRestTransport(
        host=f"127.0.0.1:{server.port}", credentials=AnonymousCredentials(), url_scheme="http"
    )
    return secretmanager.SecretManagerServiceClient(transport=transport)


def _serve_versions(server: HTTPServer, name: str, values: dict[int, bytes]) -> None:
    base = f"/v1/projects/coditect-prod/secrets/{name}/versions"
    server.expect_request(
        base, query_string={"filter": "state:ENABLED", "$alt": "json;enum-encoding=int"}
    ).respond_with_json(
        {
            "versions": [
                {
                    "name": f"projects/coditect-prod/secrets/{name}/versions/{n}",
                    "createTime": f"2026-0{n}-01T00:00:00Z",
                    "state": 1,
                }
                for n in values
            ]
        }
    )
    for n, value in values.items():
        server.expect_request(f"{base}/{n}:access").respond_with_json(
            {
                "name": f"projects/coditect-prod/secrets/{name}/versions/{n}",
                "payload": {"data": base64.b64encode(value).decode()},
            }
        )


def test_secret_manager_lists_enabled_versions_newest_first_and_caches(httpserver: HTTPServer):
    _serve_versions(httpserver, "stripe-api-key", {1: b"old", 3: b"newest", 2: b"middle"})
    secrets = SecretManagerSecrets("coditect-prod", client=_client(httpserver))
    assert secrets.versions("stripe-api-key", 2) == [b"newest", b"middle"]
    assert secrets.get("stripe-api-key") == b"newest"
    calls = len(httpserver.log)
    assert secrets.versions("stripe-api-key", 2) == [b"newest", b"middle"]
    assert len(httpserver.log) == calls  # served from the cache
    paths = [request.path for request, _ in httpserver.log]
    assert "/v1/projects/coditect-prod/secrets/stripe-api-key/versions/1:access" not in paths


def test_signing_keys_from_secret_manager(httpserver: HTTPServer):
    current, previous = new_private_key_pem(), new_private_key_pem()
    _serve_versions(httpserver, "jwt-signing-key", {1: previous, 2: current})
    keyring = Keyring(
        SecretManagerSecrets("coditect-prod", client=_client(httpserver)), "jwt-signing-key"
    )
    kids = [key["kid"] for key in keyring.jwks()["keys"]]
    assert len(kids) == 2 and keyring.current.kid == kids[0]
    assert all("d" not in key for key in keyring.jwks()["keys"])


def test_secret_manager_needs_a_project():
    with pytest.raises(ValueError, match="GOOGLE_CLOUD_PROJECT"):
        SecretManagerSecrets("")


def test_secret_manager_fresh_read_bypasses_the_cache(httpserver: HTTPServer):
    _serve_versions(httpserver, "jwt-signing-key", {1: b"one"})
    secrets = SecretManagerSecrets("coditect-prod", client=_client(httpserver))
    assert secrets.versions("jwt-signing-key", 2) == [b"one"]
    calls = len(httpserver.log)
    assert secrets.versions("jwt-signing-key", 2, fresh=True) == [b"one"]
    assert len(httpserver.log) > calls
