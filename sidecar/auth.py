"""Token verification: platform JWTs (launch and workspace-scoped Bearer) and our session cookie.

Platform tokens are ES256 (EdDSA accepted too) with a ``kid``; keys come from the JWKS, cached
and refetched on an unknown ``kid`` at most once per ``jwks_refetch_interval_seconds``. The
algorithm allow-list never contains ``none``, HS* or RS*, so a token "signed" with the public key
as an HMAC secret is refused before any key is used.

The session cookie is the sidecar's own: HS256 with a random key made at startup. The sidecar
holds no platform secret, and a restart only means the user launches again. A session carries
its start (``sst``, the launch): renewals keep it, none reaches past
``session_max_lifetime_seconds`` from it, and the platform can revoke every session started
before a time (``sessions_valid_after``, learned from the heartbeat's reply).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

from .config import Config
from .logs import get_logger

log = get_logger("sidecar.auth")

PLATFORM_ALGORITHMS = ["ES256", "EdDSA"]
SESSION_ALGORITHM = "HS256"


class AuthError(Exception):
    """Credential refused; ``code`` is the snake_case error code, ``reason`` the metric label."""

    def __init__(self, code: str, message: str, reason: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Principal:
    sub: str
    tid: str
    # Set when the credential is a session cookie that should be re-issued.
    renew_session: bool = False
    # The browser sent this credential by itself (cookie), so the request's Origin matters.
    via_cookie: bool = False
    # When the session began (the launch), epoch seconds; 0 for a token.
    started: float = 0.0


class JwksCache:
    """Public keys by ``kid``; an unknown ``kid`` triggers at most one refetch per interval."""

    def __init__(
        self,
        url: str,
        session_factory: Any,
        refetch_interval: float,
        ttl: float,
    ) -> None:
        self._url = url
        self._session_factory = session_factory
        self._refetch_interval = refetch_interval
        self._ttl = ttl
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._last_unknown_refetch = -float("inf")
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    async def get(self, kid: str) -> Any | None:
        now = time.monotonic()
        stale = self._fetched_at is None or now - self._fetched_at > self._ttl
        if stale:
            async with self._lock:
                if self._fetched_at is None or time.monotonic() - self._fetched_at > self._ttl:
                    await self._fetch()
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)
            if key is not None:
                return key
            # Rate limit: an attacker spraying random kids must not turn us into a JWKS flooder.
            if time.monotonic() - self._last_unknown_refetch < self._refetch_interval:
                return None
            self._last_unknown_refetch = time.monotonic()
            await self._fetch()
            return self._keys.get(kid)

    async def _fetch(self) -> None:
        self.fetch_count += 1
        try:
            session: aiohttp.ClientSession = self._session_factory()
            timeout = aiohttp.ClientTimeout(total=5)
            async with session.get(self._url, timeout=timeout) as resp:
                resp.raise_for_status()
                document = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("jwks fetch failed", extra={"error": type(exc).__name__})
            # Keep the old keys; try again after the refetch interval, not on every request.
            self._fetched_at = time.monotonic() - self._ttl + self._refetch_interval
            return
        keys: dict[str, Any] = {}
        for jwk in document.get("keys", []) if isinstance(document, dict) else []:
            kid = jwk.get("kid")
            if not isinstance(kid, str):
                continue
            try:
                if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
                    keys[kid] = ECAlgorithm.from_jwk(jwk)
                elif jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
                    keys[kid] = OKPAlgorithm.from_jwk(jwk)
            except (jwt.InvalidKeyError, ValueError, TypeError):
                log.warning("jwks key ignored", extra={"kid": kid})
        self._keys = keys
        self._fetched_at = time.monotonic()
        log.info("jwks fetched", extra={"kids": sorted(keys)})


class ReplayCache:
    """Used launch-token ``jti`` values, remembered until the token would have expired anyway."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def use(self, jti: str, exp: float) -> bool:
        now = time.time()
        if len(self._seen) > 1024:
            self._seen = {k: v for k, v in self._seen.items() if v > now}
        if jti in self._seen and self._seen[jti] > now:
            return False
        self._seen[jti] = exp
        return True


class Authenticator:
    def __init__(self, config: Config, session_factory: Any) -> None:
        self._cfg = config
        self.jwks = JwksCache(
            config.jwks_url,
            session_factory,
            config.jwks_refetch_interval_seconds,
            config.jwks_cache_ttl_seconds,
        )
        self._replay = ReplayCache()
        self._session_key = secrets.token_bytes(32)
        # Sessions that began before this (epoch seconds) are refused: the platform revoked them.
        self.sessions_valid_after = 0.0

    # -- platform tokens -------------------------------------------------------------------

    async def _verify_platform(self, token: str, typ: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("invalid_token", "The token is malformed.", "malformed") from None
        alg = header.get("alg")
        if alg not in PLATFORM_ALGORITHMS:
            raise AuthError("invalid_token", "The token algorithm is not allowed.", "algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise AuthError("invalid_token", "The token has no key id.", "no_kid")
        key = await self.jwks.get(kid)
        if key is None:
            raise AuthError("invalid_token", "The token's signing key is unknown.", "unknown_kid")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._cfg.audience,
                issuer=self._cfg.token_issuer,
                leeway=self._cfg.token_leeway_seconds,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token_expired", "The token has expired.", "expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError(
                "invalid_token", "The token is not for this workspace.", "audience"
            ) from None
        except jwt.InvalidIssuerError:
            raise AuthError("invalid_token", "The token issuer is not trusted.", "issuer") from None
        except jwt.PyJWTError:
            raise AuthError("invalid_token", "The token is invalid.", "invalid") from None
        if claims.get("typ") != typ:
            raise AuthError("invalid_token", f"A {typ} token is required.", "type")
        if claims.get("sub") != self._cfg.user_id or claims.get("tid") != self._cfg.tenant_id:
            raise AuthError(
                "forbidden_user", "This workspace belongs to another user.", "not_owner"
            )
        return claims

    async def verify_launch(self, token: str) -> Principal:
        claims = await self._verify_platform(token, "launch")
        lifetime = claims["exp"] - claims["iat"]
        if lifetime > self._cfg.launch_token_max_lifetime_seconds:
            raise AuthError("invalid_token", "The launch token lives too long.", "lifetime")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise AuthError("invalid_token", "The launch token has no jti.", "no_jti")
        exp = float(claims["exp"]) + self._cfg.token_leeway_seconds
        if not self._replay.use(jti, exp):
            raise AuthError("token_replayed", "The launch token was already used.", "replayed")
        return Principal(sub=claims["sub"], tid=claims["tid"])

    async def verify_bearer(self, token: str) -> Principal:
        claims = await self._verify_platform(token, "workspace")
        return Principal(sub=claims["sub"], tid=claims["tid"])

    # -- session cookie --------------------------------------------------------------------

    def issue_session(self, principal: Principal) -> tuple[str, int]:
        """A session value and its Max-Age; a renewal keeps the session's start."""
        now = time.time()
        started = principal.started or round(now, 3)
        end = min(
            now + self._cfg.session_ttl_seconds, started + self._cfg.session_max_lifetime_seconds
        )
        claims = {
            "sub": principal.sub,
            "tid": principal.tid,
            "aud": self._cfg.audience,
            "typ": "session",
            "iat": int(now),
            "exp": int(end),
            "sst": started,
        }
        value = jwt.encode(claims, self._session_key, algorithm=SESSION_ALGORITHM)
        return value, max(0, int(end - now))

    def verify_session(self, value: str) -> Principal:
        try:
            claims = jwt.decode(
                value,
                self._session_key,
                algorithms=[SESSION_ALGORITHM],
                audience=self._cfg.audience,
                options={"require": ["exp", "iat", "sub", "aud", "sst"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("session_expired", "The session has expired.", "expired") from None
        except jwt.PyJWTError:
            raise AuthError("invalid_session", "The session is invalid.", "invalid") from None
        started = claims["sst"]
        if (
            claims.get("typ") != "session"
            or claims.get("sub") != self._cfg.user_id
            or claims.get("tid") != self._cfg.tenant_id
            or not isinstance(started, (int, float))
        ):
            raise AuthError("invalid_session", "The session is invalid.", "invalid")
        if started < self.sessions_valid_after:
            raise AuthError(
                "session_revoked",
                "This session was signed out. Open the workspace from the dashboard again.",
                "revoked",
            )
        now = time.time()
        # Renew past half-life, unless the session's absolute end is already on the cookie.
        renew = now - claims["iat"] > self._cfg.session_ttl_seconds / 2 and claims["exp"] < int(
            started + self._cfg.session_max_lifetime_seconds
        )
        return Principal(
            sub=claims["sub"],
            tid=claims["tid"],
            renew_session=renew,
            via_cookie=True,
            started=started,
        )
