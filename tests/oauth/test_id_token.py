"""Google's id_token checks one by one, against a discovery document and JWKS served over HTTP.

oidc-provider-mock signs with its own key, so it cannot issue a token with a wrong issuer or
audience; here the provider's metadata is served by pytest-httpserver with a key the test holds,
and each claim is broken in turn.
"""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.clock import ManualClock
from shared.oauth.common import Http
from shared.oauth.errors import OAuthFailure
from shared.oauth.google import GoogleProvider

CLIENT_ID = "coditect-test-google"
NONCE = "nonce-of-this-browser"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: Any, kid: str) -> dict[str, Any]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**public, "kid": kid, "use": "sig", "alg": "RS256"}


@pytest.fixture
def issuer(httpserver: Any) -> str:
    base = httpserver.url_for("/google").rstrip("/")
    httpserver.expect_request("/google/.well-known/openid-configuration").respond_with_json(
        {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks",
        }
    )
    httpserver.expect_request("/google/jwks").respond_with_json({"keys": [jwk(KEY, "k1")]})
    return base


@pytest.fixture
def google(issuer: str) -> GoogleProvider:
    clock = ManualClock(time.time())
    return GoogleProvider(f"{issuer}/.well-known/openid-configuration", Http(5.0), clock, 60)


def token(google: GoogleProvider, issuer: str, key: Any = KEY, kid: str = "k1", **changes: Any):
    now = int(google._clock.now())
    claims = {
        "iss": issuer,
        "aud": CLIENT_ID,
        "sub": "1234567890",
        "iat": now,
        "exp": now + 300,
        "nonce": NONCE,
        "email": "ada@example.com",
        "email_verified": True,
        **changes,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def refused(google: GoogleProvider, id_token: str, code: str) -> None:
    with pytest.raises(OAuthFailure) as failure:
        google.verify_id_token(id_token, CLIENT_ID, NONCE)
    assert failure.value.code == code


def test_a_good_id_token_verifies(google, issuer):
    claims = google.verify_id_token(token(google, issuer), CLIENT_ID, NONCE)
    assert claims["sub"] == "1234567890" and claims["email_verified"] is True
    # several audiences are accepted only when azp names us
    ok = token(google, issuer, aud=[CLIENT_ID, "another"], azp=CLIENT_ID)
    assert google.verify_id_token(ok, CLIENT_ID, NONCE)["azp"] == CLIENT_ID


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"iss": "https://evil.example.com"}, "invalid_id_token"),
        ({"aud": "someone-elses-client"}, "invalid_id_token"),
        ({"aud": [CLIENT_ID, "another"]}, "invalid_id_token"),  # several audiences, no azp
        ({"azp": "someone-elses-client"}, "invalid_id_token"),
        ({"exp": None}, "invalid_id_token"),
        ({"sub": None}, "invalid_id_token"),
        ({"nonce": None}, "nonce_mismatch"),
        ({"nonce": "another-browsers-nonce"}, "nonce_mismatch"),
    ],
)
def test_each_broken_claim_is_refused(google, issuer, changes, code):
    refused(google, token(google, issuer, **changes), code)


def test_times_are_checked_with_60_s_leeway_against_the_clock(google, issuer):
    now = int(google._clock.now())
    assert google.verify_id_token(token(google, issuer, exp=now - 59), CLIENT_ID, NONCE)
    refused(google, token(google, issuer, exp=now - 61), "id_token_expired")
    refused(google, token(google, issuer, iat=now + 120), "invalid_id_token")


def test_signature_must_come_from_the_jwks(google, issuer):
    refused(google, token(google, issuer, key=OTHER_KEY), "invalid_id_token")  # known kid
    refused(google, token(google, issuer, key=OTHER_KEY, kid="k9"), "invalid_id_token")
    hs256 = jwt.encode({"iss": issuer, "aud": CLIENT_ID}, "s" * 32, algorithm="HS256")
    refused(google, hs256, "invalid_id_token")
    refused(google, "not-a-jwt", "invalid_id_token")


def test_oversized_provider_answer_is_refused(httpserver):
    httpserver.expect_request("/huge").respond_with_data(
        b"[" + b"0," * 600_000 + b"0]", content_type="application/json"
    )
    with pytest.raises(OAuthFailure) as failure:
        Http(5.0).get_json(httpserver.url_for("/huge"))
    assert failure.value.code == "provider_error"
