"""The state cookie: binds ``state``, the PKCE verifier and the OIDC nonce to the browser.

The value is ``base64url(json) "." base64url(HMAC-SHA256)``. It is HttpOnly, Secure,
SameSite=Lax (the provider's redirect back is a top-level GET, which Lax lets through), scoped
to the provider's callback path and short-lived; the expiry inside is checked against the
injected clock, so a copied cookie dies with it even if a browser ignores Max-Age.

The HMAC key is derived with HKDF from the provider's client secret (a value only we and the
provider hold, already in the secrets port), with a per-provider label: no extra secret to
provision, and rotating the client secret rotates the cookie key too (in-flight sign-ins then
fail with ``invalid_state`` and are simply restarted).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from shared.oauth.errors import OAuthFailure

COOKIE_NAME = "coditect_oauth"
MAX_COOKIE_CHARS = 2048
# Binds the one-time code to the browser that started sign-in (login CSRF): set at /start, its
# SHA-256 stored with the code at /callback, required at /exchange. Path covers both.
BINDING_COOKIE_NAME = "coditect_oauth_binding"
BINDING_PATH = "/api/auth/oauth"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def derive_key(client_secret: bytes, provider: str) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    info = b"coditect/oauth-state-cookie/v1/" + provider.encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(client_secret)


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(verifier)) without padding."""
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass(frozen=True)
class FlowState:
    provider: str
    state: str
    code_verifier: str
    nonce: str
    expires_at: float
    # Set when the signed-in owner asked to link this provider (``start_link``): the account the
    # identity is added to. Empty for a sign-in.
    link_user_id: str = ""
    link_tenant_id: str = ""

    @classmethod
    def new(
        cls, provider: str, now: float, ttl: int, link_to: tuple[str, str] | None = None
    ) -> FlowState:
        # 43+ characters of URL-safe randomness: RFC 7636's minimum verifier length.
        user_id, tenant_id = link_to or ("", "")
        return cls(
            provider=provider,
            state=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(48),
            nonce=secrets.token_urlsafe(32),
            expires_at=now + ttl,
            link_user_id=user_id,
            link_tenant_id=tenant_id,
        )

    def seal(self, key: bytes) -> str:
        fields: dict[str, Any] = {
            "p": self.provider,
            "s": self.state,
            "v": self.code_verifier,
            "n": self.nonce,
            "e": int(self.expires_at),
        }
        if self.link_user_id:
            fields.update({"u": self.link_user_id, "t": self.link_tenant_id})
        payload = _b64(json.dumps(fields, separators=(",", ":")).encode())
        return payload + "." + _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())

    @classmethod
    def open(cls, value: str | None, key: bytes, provider: str, now: float) -> FlowState:
        """The flow this browser started, or :class:`OAuthFailure` (missing/invalid/expired)."""
        if not value:
            raise OAuthFailure("missing_state", "no state cookie")
        payload, _, signature = value.partition(".")
        if len(value) > MAX_COOKIE_CHARS or not payload or not signature:
            raise OAuthFailure("invalid_state", "malformed state cookie")
        expected = hmac.new(key, payload.encode(), hashlib.sha256).digest()
        try:
            given = _unb64(signature)
            data: Any = json.loads(_unb64(payload))
        except (ValueError, UnicodeDecodeError):
            raise OAuthFailure("invalid_state", "malformed state cookie") from None
        if not hmac.compare_digest(expected, given):
            raise OAuthFailure("invalid_state", "state cookie signature does not match")
        if not isinstance(data, dict) or data.get("p") != provider:
            raise OAuthFailure("invalid_state", "state cookie is for another provider")
        fields = (data.get("s"), data.get("v"), data.get("n"))
        if not all(isinstance(f, str) and f for f in fields) or not isinstance(data.get("e"), int):
            raise OAuthFailure("invalid_state", "state cookie is incomplete")
        if data["e"] <= now:
            raise OAuthFailure("state_expired", "the sign-in took too long")
        link = (data.get("u", ""), data.get("t", ""))
        if not all(isinstance(part, str) for part in link) or bool(link[0]) != bool(link[1]):
            raise OAuthFailure("invalid_state", "state cookie is incomplete")
        return cls(provider, data["s"], data["v"], data["n"], float(data["e"]), *link)

    def matches(self, state: str | None) -> bool:
        return bool(state) and hmac.compare_digest(self.state.encode(), str(state).encode())


def set_cookie_header(value: str, path: str, max_age: int) -> str:
    from werkzeug.http import dump_cookie

    return dump_cookie(
        COOKIE_NAME,
        value,
        max_age=max_age,
        path=path,
        secure=True,
        httponly=True,
        samesite="Lax",
    )


def clear_cookie_header(path: str) -> str:
    return set_cookie_header("", path, 0)


def new_binding() -> str:
    return secrets.token_urlsafe(32)


def binding_cookie_header(value: str, max_age: int, *, secure: bool) -> str:
    """Lax: the provider's redirect back (a top-level GET) and the app's same-origin fetch carry
    it; a cross-site POST or a framed page do not. Secure whenever the origin is https (a
    plain-http local origin would never get it back otherwise)."""
    from werkzeug.http import dump_cookie

    return dump_cookie(
        BINDING_COOKIE_NAME,
        value,
        max_age=max_age,
        path=BINDING_PATH,
        secure=secure,
        httponly=True,
        samesite="Lax",
    )


def valid_binding(value: str | None) -> str | None:
    """The cookie's value when it looks like one we set (bounded, URL-safe), else ``None``."""
    if not value or len(value) > 128:
        return None
    return value if all(c.isalnum() or c in "-_" for c in value) else None
