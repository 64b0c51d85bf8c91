"""Signing and verifying Coditect's JWTs (ES256 with a ``kid``).

The signing key lives in the secrets port; the newest version signs, the newest two verify and
are published at ``/.well-known/jwks.json``, so a rotation never logs anybody out. Verification
checks the algorithm (ES256 only), the ``kid``, the signature, ``iss``, ``aud``, ``typ`` and
expiry against the injected clock.
"""

import base64
import hashlib
import json
import logging
import secrets as pysecrets
import threading
import time
from dataclasses import dataclass
from typing import Any, cast

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from shared.claims import Claims
from shared.clock import Clock
from shared.errors import Unauthorized
from shared.secrets import SecretsPort

log = logging.getLogger("coditect.tokens")
ALGORITHM = "ES256"
CLOCK_SKEW_SECONDS = 30


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_private_key_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey
    jwk: dict[str, str]
    # Derived once: deriving it from the private key costs a point multiplication per token.
    public_key: ec.EllipticCurvePublicKey

    @classmethod
    def from_pem(cls, pem: bytes) -> "SigningKey":
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("signing keys are P-256 EC keys")
        public = key.public_key()
        jwk = json.loads(ECAlgorithm.to_jwk(public))
        # RFC 7638 thumbprint: a kid that names the key itself, stable across restarts.
        canonical = json.dumps(
            {k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True
        )
        kid = _b64url(hashlib.sha256(canonical.encode()).digest())[:16]
        return cls(kid, key, {**jwk, "kid": kid, "alg": ALGORITHM, "use": "sig"}, public)


class Keyring:
    """The newest key signs; the newest two verify. Reloaded now and then to pick up rotations."""

    def __init__(
        self,
        secrets: SecretsPort,
        secret_name: str,
        *,
        reload_seconds: float = 300.0,
        unknown_kid_reload_seconds: float = 30.0,
        generate_if_missing: bool = False,
    ) -> None:
        self._secrets = secrets
        self._name = secret_name
        self._reload_seconds = reload_seconds
        self._unknown_kid_reload_seconds = unknown_kid_reload_seconds
        self._generate = generate_if_missing
        self._lock = threading.Lock()  # guards the keys; never held while fetching
        self._fetching = threading.Lock()  # one fetch at a time
        self._loaded_at = -1e18
        self._looked_again_at = -1e18
        self._keys: list[SigningKey] = []

    def _load(self, *, force: bool = False) -> list[SigningKey]:
        with self._lock:
            fresh_enough = time.monotonic() - self._loaded_at < self._reload_seconds
            if self._keys and fresh_enough and not force:
                return self._keys
            known = self._keys
        # Fetch outside the lock: verifications keep using the keys already known while one
        # thread reads Secret Manager (a flood of unknown kids must not stall them). Only the
        # first load, with nothing known yet, waits for the fetch.
        if not self._fetching.acquire(blocking=not known):
            return known
        try:
            pems = self._secrets.versions(self._name, 2, fresh=force)
            if not pems and self._generate:
                self._secrets.add_version(self._name, new_private_key_pem())  # type: ignore[attr-defined]
                pems = self._secrets.versions(self._name, 2, fresh=True)
            if not pems:
                raise RuntimeError(f"no signing key in secret {self._name!r}")
            keys = [SigningKey.from_pem(p) for p in pems]
            with self._lock:
                self._keys, self._loaded_at = keys, time.monotonic()
            return keys
        finally:
            self._fetching.release()

    def refresh(self) -> None:
        """Read the secret again now, past every cache."""
        self._load(force=True)

    @property
    def current(self) -> SigningKey:
        return self._load()[0]

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [k.jwk for k in self._load()]}

    def public_key(self, kid: str) -> Any | None:
        found = self._find(kid)
        if found is not None:
            return found
        # After a rotation, instances that loaded the secret later already sign with the new
        # key: a kid this instance does not know makes it look again, at most every
        # ``unknown_kid_reload_seconds`` (made-up kids must not hammer Secret Manager).
        with self._lock:
            now = time.monotonic()
            if now - self._looked_again_at < self._unknown_kid_reload_seconds:
                return None
            self._looked_again_at = now
        try:
            self.refresh()
        except Exception:
            log.warning("could not reload the signing keys", exc_info=True)
            return None
        return self._find(kid)

    def _find(self, kid: str) -> Any | None:
        for key in self._load():
            if key.kid == kid:
                return key.public_key
        return None


class TokenService:
    def __init__(self, keyring: Keyring, clock: Clock, issuer: str) -> None:
        self._keyring = keyring
        self._clock = clock
        self.issuer = issuer

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return self._keyring.jwks()

    def issue(
        self,
        *,
        typ: str,
        sub: str,
        tid: str,
        aud: str,
        ttl: int,
        extra: dict[str, Any] | None = None,
    ) -> tuple[str, Claims]:
        now = int(self._clock.now())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": aud,
            "sub": sub,
            "tid": tid,
            "typ": typ,
            "iat": now,
            "exp": now + ttl,
            "jti": pysecrets.token_urlsafe(16),
            **(extra or {}),
        }
        key = self._keyring.current
        token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
        return token, cast(Claims, claims)

    def verify(self, token: str, *, aud: str, typ: str) -> Claims:
        """Claims of a valid token; :class:`Unauthorized` with a generic message otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("invalid token", code="invalid_token") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthorized("invalid token", code="invalid_token")
        public = self._keyring.public_key(str(header.get("kid", "")))
        if public is None:
            raise Unauthorized("invalid token", code="invalid_token")
        try:
            claims = jwt.decode(
                token,
                public,
                algorithms=[ALGORITHM],
                audience=aud,
                issuer=self.issuer,
                # Expiry is checked below against the injected clock.
                options={
                    "require": ["exp", "iat", "sub", "jti", "aud", "iss"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError:
            raise Unauthorized("invalid token", code="invalid_token") from None
        now = self._clock.now()
        if claims["exp"] <= now:
            raise Unauthorized("token expired", code="token_expired")
        if claims["iat"] > now + CLOCK_SKEW_SECONDS or claims.get("typ") != typ:
            raise Unauthorized("invalid token", code="invalid_token")
        if not isinstance(claims.get("tid"), str):
            raise Unauthorized("invalid token", code="invalid_token")
        return cast(Claims, claims)
