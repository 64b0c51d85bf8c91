"""Google as an OpenID Connect provider: discovery, code exchange, id_token verification.

The id_token is the identity: its signature is checked against the provider's JWKS (RS256 only),
then ``iss`` (the discovery document's issuer), ``aud`` (our client id; ``azp`` too when
present), ``exp``/``iat`` against the injected clock, and ``nonce`` against the one this browser's
cookie holds. A token without a key id is tried against each RSA signing key in the set, as the
OIDC stand-in issues them that way.
"""

from __future__ import annotations

import hmac
import threading
import time
from typing import Any
from urllib.parse import urlencode

import jwt

from shared.clock import Clock
from shared.oauth.common import ClientCredentials, Http, Identity, log
from shared.oauth.errors import OAuthFailure

ALGORITHMS = ["RS256"]
CACHE_SECONDS = 3600.0
# After an unknown key, fetch the JWKS again at most this often (Google rotates keys).
JWKS_REFETCH_SECONDS = 60.0
# Google documents both spellings of its issuer.
ISSUER_ALIASES = {"https://accounts.google.com": {"accounts.google.com"}}


class GoogleProvider:
    name = "google"

    def __init__(self, discovery_url: str, http: Http, clock: Clock, leeway: int) -> None:
        self._discovery_url = discovery_url
        self._http = http
        self._clock = clock
        self._leeway = leeway
        self._lock = threading.Lock()
        self._discovery: tuple[float, dict[str, Any]] | None = None
        self._jwks: tuple[float, dict[str, Any]] | None = None

    # -- provider metadata (cached; monotonic time, as it is about our cache, not about tokens) --
    def discovery(self) -> dict[str, Any]:
        with self._lock:
            if self._discovery and time.monotonic() - self._discovery[0] < CACHE_SECONDS:
                return self._discovery[1]
        doc = self._http.get_json(self._discovery_url)
        needed = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
        if not isinstance(doc, dict) or not all(isinstance(doc.get(k), str) for k in needed):
            raise OAuthFailure("provider_error", "discovery document is incomplete")
        with self._lock:
            self._discovery = (time.monotonic(), doc)
        return doc

    def _keys(self, *, refetch: bool) -> list[Any]:
        with self._lock:
            cached = self._jwks
        age = time.monotonic() - cached[0] if cached else None
        if (
            cached is None
            or age is None
            or age >= CACHE_SECONDS
            or (refetch and age >= JWKS_REFETCH_SECONDS)
        ):
            jwks = self._http.get_json(self.discovery()["jwks_uri"])
            cached = (time.monotonic(), jwks if isinstance(jwks, dict) else {})
            with self._lock:
                self._jwks = cached
        try:
            keyset = jwt.PyJWKSet.from_dict(cached[1])
        except jwt.PyJWTError:
            raise OAuthFailure("provider_error", "JWKS has no usable key") from None
        return [
            k
            for k in keyset.keys
            if k.key_type == "RSA"
            and k.public_key_use in (None, "sig")
            and k.algorithm_name in ALGORITHMS
        ]

    # -- the flow --------------------------------------------------------------------------------
    def authorize_url(
        self,
        client: ClientCredentials,
        *,
        redirect_uri: str,
        state: str,
        challenge: str,
        nonce: str,
    ) -> str:
        params = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid email profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "prompt": "select_account",
        }
        endpoint = self.discovery()["authorization_endpoint"]
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)

    def fetch_identity(
        self,
        client: ClientCredentials,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str,
        nonce: str,
    ) -> Identity:
        status, body = self._http.request(
            "POST",
            self.discovery()["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": client.client_id,
                "client_secret": client.client_secret,
                "code_verifier": code_verifier,
            },
        )
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
            error = body.get("error") if isinstance(body, dict) else None
            log.warning(
                "google code exchange refused",
                extra={"fields": {"status": status, "error": str(error)[:100]}},
            )
            raise OAuthFailure("code_exchange_failed", f"token endpoint answered {status}")
        claims = self.verify_id_token(body["id_token"], client.client_id, nonce)
        verified = claims.get("email_verified")
        email = claims.get("email")
        if not isinstance(email, str) or not email:
            raise OAuthFailure("email_missing", "id_token has no email")
        return Identity(
            provider=self.name,
            subject=str(claims["sub"]),
            email=email,
            # Google sends a boolean; some older tokens carried the string "true".
            email_verified=verified is True or verified == "true",
            first_name=_text(claims.get("given_name")),
            last_name=_text(claims.get("family_name")),
        )

    def verify_id_token(self, id_token: str, client_id: str, nonce: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise OAuthFailure("invalid_id_token", "not a JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise OAuthFailure("invalid_id_token", "unexpected signing algorithm")
        claims = self._decode(id_token, header, client_id, refetch=False)
        if claims is None:  # no key verified: perhaps the provider rotated its keys
            claims = self._decode(id_token, header, client_id, refetch=True)
        if claims is None:
            raise OAuthFailure("invalid_id_token", "signature does not verify")
        issuer = self.discovery()["issuer"]
        if claims["iss"] != issuer and claims["iss"] not in ISSUER_ALIASES.get(issuer, set()):
            raise OAuthFailure("invalid_id_token", "wrong issuer")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id:
            raise OAuthFailure("invalid_id_token", "wrong authorized party")
        now = self._clock.now()
        if not isinstance(claims["exp"], int | float) or claims["exp"] + self._leeway <= now:
            raise OAuthFailure("id_token_expired", "id_token has expired")
        if not isinstance(claims["iat"], int | float) or claims["iat"] - self._leeway > now:
            raise OAuthFailure("invalid_id_token", "id_token issued in the future")
        token_nonce = claims.get("nonce")
        if not isinstance(token_nonce, str) or not hmac.compare_digest(
            token_nonce.encode(), nonce.encode()
        ):
            raise OAuthFailure("nonce_mismatch", "id_token nonce is not this browser's")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise OAuthFailure("invalid_id_token", "no subject")
        return claims

    def _decode(
        self, id_token: str, header: dict[str, Any], client_id: str, *, refetch: bool
    ) -> dict[str, Any] | None:
        keys = self._keys(refetch=refetch)
        kid = header.get("kid")
        if kid is not None:
            keys = [k for k in keys if k.key_id == kid]
        for key in keys:
            try:
                return jwt.decode(
                    id_token,
                    key.key,
                    algorithms=ALGORITHMS,
                    audience=client_id,
                    # Times are checked by the caller against the injected clock.
                    options={
                        "require": ["iss", "aud", "sub", "exp", "iat"],
                        "verify_exp": False,
                        "verify_iat": False,
                        "verify_nbf": False,
                    },
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.InvalidAudienceError:
                raise OAuthFailure("invalid_id_token", "wrong audience") from None
            except jwt.PyJWTError as error:
                raise OAuthFailure("invalid_id_token", type(error).__name__) from None
        return None


def _text(value: Any) -> str | None:
    return value[:100] if isinstance(value, str) and value else None
