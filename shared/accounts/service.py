"""Sign-up, login, refresh-token rotation, logout, and "me".

Password hashing happens outside transactions (it is slow and must not hold a transaction open);
every write that belongs together happens in one transaction, which either commits whole or
leaves nothing behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict, cast

from shared import metrics, passwords
from shared.accounts.api_tokens import ApiTokens, is_api_token
from shared.accounts.audit import write_audit
from shared.accounts.clients import current_client
from shared.accounts.email_verification import put_email_verification
from shared.accounts.identities import linked_providers
from shared.accounts.licenses import get_license
from shared.accounts.records import LicenseRecord, RefreshFamily, UserIds, UserRecord
from shared.accounts.requests import (
    LoginRequest,
    ProfileUpdate,
    RefreshRequest,
    RegisterRequest,
)
from shared.accounts.scopes import Scope, require_scope
from shared.accounts.throttle import LoginThrottle
from shared.accounts.usage import month_usage, usage_month
from shared.accounts.users import (
    create_personal_account,
    email_hash,
    get_credential,
    get_user,
    lookup_email,
    normalize_email,
    public_user,
    put_credential,
    put_user,
)
from shared.clock import Clock, isoformat
from shared.errors import TooManyRequests, Unauthorized, Unprocessable
from shared.ids import new_id
from shared.plans import effective_plan
from shared.settings import Settings
from shared.store import Database, Transaction
from shared.store.codec import dump, load
from shared.store.keys import TENANTS
from shared.tokens import Claims, TokenService

log = logging.getLogger("coditect.accounts")
REFRESH_AUDIENCE_SUFFIX = "/refresh"


@dataclass
class SessionTokens:
    access_token: str
    refresh_token: str
    expires_in: int

    def public(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }


class ClientFields(TypedDict, total=False):
    client: str
    client_ip: str


def client_fields() -> ClientFields:
    """The session record's view of the request being served (none outside a request)."""
    client = current_client()
    return {"client": client.user_agent, "client_ip": client.address} if client else {}


class Rotation(StrEnum):
    """What presenting a refresh token did to its family."""

    ROTATED = "rotated"
    REUSED = "reused"  # a rotated token came back: the family is revoked
    REVOKED = "revoked"  # the family was already over


class AccountService:
    def __init__(
        self, db: Database, tokens: TokenService, clock: Clock, settings: Settings
    ) -> None:
        self.db = db
        self.tokens = tokens
        self.clock = clock
        self.settings = settings
        self.api_tokens = ApiTokens(db, clock, settings)

    @property
    def refresh_audience(self) -> str:
        return self.settings.api_audience + REFRESH_AUDIENCE_SUFFIX

    # -- tokens ----------------------------------------------------------------------------------
    def _issue_access(self, user_id: str, tenant_id: str, family_id: str) -> str:
        token, _ = self.tokens.issue(
            typ="access",
            sub=user_id,
            tid=tenant_id,
            aud=self.settings.api_audience,
            ttl=self.settings.access_token_seconds,
            # The session it belongs to: "this device" in the session list, kept on a change.
            extra={"fam": family_id},
        )
        return token

    def start_session(
        self, tr: Transaction, user_id: str, tenant_id: str, now: float, method: str
    ) -> SessionTokens:
        family_id = new_id()
        refresh, claims = self.tokens.issue(
            typ="refresh",
            sub=user_id,
            tid=tenant_id,
            aud=self.refresh_audience,
            ttl=self.settings.refresh_token_seconds,
            extra={"fam": family_id},
        )
        family: RefreshFamily = {
            "family_id": family_id,
            "user_id": user_id,
            "current_jti": claims["jti"],
            "revoked": False,
            "method": method,
            "created_at": isoformat(now),
            "expires_at": claims["exp"],
            "last_used_at": isoformat(now),
            **client_fields(),
        }
        tr.set(TENANTS[tenant_id].key("refresh_family", family_id), dump(family))
        return SessionTokens(
            self._issue_access(user_id, tenant_id, family_id),
            refresh,
            self.settings.access_token_seconds,
        )

    def authenticate(self, token: str, *, scope: Scope = "account") -> Claims:
        """The caller's claims: an access token (every scope) or a personal API token, which
        must hold ``scope`` (403 ``insufficient_scope``; ``account`` is never a token's)."""
        if is_api_token(token):
            claims = self.api_tokens.authenticate(token)
            require_scope(claims, scope)
            return claims
        return self.tokens.verify(token, aud=self.settings.api_audience, typ="access")

    # -- sign-up ---------------------------------------------------------------------------------
    def register(
        self, body: RegisterRequest, *, verification_token: str | None = None
    ) -> tuple[UserRecord, SessionTokens]:
        """Sign up; with ``verification_token`` (see ``email_verification.new_email_token``) the
        account's email-verification token is stored in the same transaction, for the caller to
        mail once this has committed."""
        try:
            signed_up = self._register(body, verification_token)
        except Exception:
            metrics.SIGNUPS.inc(method="password", outcome="failure")
            raise
        metrics.SIGNUPS.inc(method="password", outcome="success")
        return signed_up

    def _register(
        self, body: RegisterRequest, verification_token: str | None
    ) -> tuple[UserRecord, SessionTokens]:
        email = normalize_email(body.email)
        passwords.check_policy(body.password, email)
        password_hash = passwords.hash_password(body.password)
        user_id, tenant_id = new_id(), new_id()

        def create(tr: Transaction) -> tuple[UserRecord, SessionTokens]:
            now = self.clock.now()
            user = create_personal_account(
                tr,
                now,
                user_id=user_id,
                tenant_id=tenant_id,
                email=email,
                first_name=body.first_name,
                last_name=body.last_name,
                requested_plan=body.plan,
                # Nothing proves the address until the mailed link is followed (docs/oauth.md).
                email_verified=False,
                method="password",
                password_hash=password_hash,
            )
            if verification_token is not None:
                put_email_verification(tr, tenant_id, user_id, email, now, verification_token)
            return user, self.start_session(tr, user_id, tenant_id, now, "password")

        return self.db.transact(create)

    # -- login -----------------------------------------------------------------------------------
    def login(self, body: LoginRequest, client: str) -> tuple[UserRecord, SessionTokens]:
        """``client``: the caller's address (shared.web.client_address), for the throttle."""
        try:
            signed_in = self._login(body, client)
        except TooManyRequests:
            metrics.LOGINS.inc(method="password", outcome="throttled")
            raise
        except Exception:
            metrics.LOGINS.inc(method="password", outcome="failure")
            raise
        metrics.LOGINS.inc(method="password", outcome="success")
        return signed_in

    def _login(self, body: LoginRequest, client: str) -> tuple[UserRecord, SessionTokens]:
        invalid = Unauthorized("email or password is incorrect", code="invalid_credentials")
        try:
            email = normalize_email(body.email)
        except Unprocessable:
            raise invalid from None
        throttle = LoginThrottle(self.settings)

        def check(tr: Transaction) -> tuple[UserIds | None, str | None]:
            # Counted as a failure until it succeeds, before the password is checked (throttle.py).
            throttle.admit(tr, email_hash(email), client, self.clock.now())
            ids = lookup_email(tr, email)
            if ids is None:
                return None, None
            cred = get_credential(tr, ids["tenant_id"], ids["user_id"])
            return ids, cred["password_hash"] if cred else None

        ids, stored_hash = self.db.transact(check)
        if ids is None or not passwords.verify_password(stored_hash, body.password):
            # The email's hash, not the email: enough to follow an attack, no personal data.
            log.warning(
                "login failed",
                extra={
                    "fields": {
                        "email_sha256": email_hash(email)[:16],
                        "known_email": ids is not None,
                    }
                },
            )
            raise invalid
        rehash = (
            passwords.hash_password(body.password)
            if passwords.needs_rehash(stored_hash or "")
            else None
        )
        tenant_id, user_id = ids["tenant_id"], ids["user_id"]

        def succeed(tr: Transaction) -> tuple[UserRecord, SessionTokens]:
            now = self.clock.now()
            user = get_user(tr, tenant_id, user_id)
            cred = get_credential(tr, tenant_id, user_id)
            # The hash was checked outside this transaction: it must still be the account's own
            # (a password removed or changed meanwhile must not yield a session).
            if user is None or cred is None or cred["password_hash"] != stored_hash:
                raise invalid
            throttle.succeeded(tr, email_hash(email), client)
            if rehash:
                put_credential(tr, tenant_id, user_id, rehash, now)
            write_audit(
                tr, tenant_id, now, "user.login", {"user_id": user_id, "method": "password"}
            )
            return user, self.start_session(tr, user_id, tenant_id, now, "password")

        return self.db.transact(succeed)

    # -- refresh and logout ----------------------------------------------------------------------
    def _verify_refresh(self, token: str) -> Claims:
        claims = self.tokens.verify(token, aud=self.refresh_audience, typ="refresh")
        if not isinstance(claims.get("fam"), str):
            raise Unauthorized("invalid token", code="invalid_token")
        return claims

    def refresh(self, body: RefreshRequest) -> SessionTokens:
        claims = self._verify_refresh(body.refresh_token)
        tenant_id, family_id = claims["tid"], claims.get("fam", "")
        family_key = TENANTS[tenant_id].key("refresh_family", family_id)
        new_refresh, new_claims = self.tokens.issue(
            typ="refresh",
            sub=claims["sub"],
            tid=tenant_id,
            aud=self.refresh_audience,
            ttl=self.settings.refresh_token_seconds,
            extra={"fam": family_id},
        )

        def rotate(tr: Transaction) -> Rotation:
            family = cast(RefreshFamily | None, load(tr.get(family_key)))
            if family is None or family["revoked"] or family["user_id"] != claims["sub"]:
                return Rotation.REVOKED
            now = self.clock.now()
            if family["current_jti"] != claims["jti"]:
                # A rotated token came back: someone holds a copy. End the whole family.
                family.update(
                    {"revoked": True, "revoked_reason": "reuse", "revoked_at": isoformat(now)}
                )
                tr.set(family_key, dump(family))
                write_audit(
                    tr,
                    tenant_id,
                    now,
                    "session.refresh_reuse",
                    {"user_id": claims["sub"], "family_id": family_id},
                )
                return Rotation.REUSED
            family.update(
                {
                    "current_jti": new_claims["jti"],
                    "expires_at": new_claims["exp"],
                    "rotated_at": isoformat(now),
                    "last_used_at": isoformat(now),
                    **client_fields(),
                }
            )
            tr.set(family_key, dump(family))
            return Rotation.ROTATED

        outcome = self.db.transact(rotate)
        if outcome is Rotation.REUSED:
            raise Unauthorized(
                "refresh token was already used; the session is revoked",
                code="refresh_token_reused",
            )
        if outcome is Rotation.REVOKED:
            raise Unauthorized("session is no longer valid", code="session_revoked")
        return SessionTokens(
            self._issue_access(claims["sub"], tenant_id, family_id),
            new_refresh,
            self.settings.access_token_seconds,
        )

    def logout(self, body: RefreshRequest) -> None:
        claims = self._verify_refresh(body.refresh_token)
        family_id = claims.get("fam", "")
        family_key = TENANTS[claims["tid"]].key("refresh_family", family_id)

        def revoke(tr: Transaction) -> None:
            family = cast(RefreshFamily | None, load(tr.get(family_key)))
            if family is None or family["revoked"] or family["user_id"] != claims["sub"]:
                return
            now = self.clock.now()
            family.update(
                {"revoked": True, "revoked_reason": "logout", "revoked_at": isoformat(now)}
            )
            tr.set(family_key, dump(family))
            write_audit(
                tr,
                claims["tid"],
                now,
                "session.logout",
                {"user_id": claims["sub"], "family_id": family_id},
            )

        self.db.transact(revoke)

    # -- me --------------------------------------------------------------------------------------
    def update_profile(self, claims: Claims, body: ProfileUpdate) -> dict[str, Any]:
        """Change the names sent (one transaction, audited); the user as the API shows it."""
        tenant_id, user_id = claims["tid"], claims["sub"]
        changes = {
            field: (getattr(body, field) or "").strip() or None for field in body.model_fields_set
        }
        now = self.clock.now()

        def write(tr: Transaction) -> UserRecord:
            user = get_user(tr, tenant_id, user_id)
            if user is None:
                raise Unauthorized("account no longer exists", code="invalid_token")
            updated = cast(UserRecord, {**user, **changes})
            if updated != user:
                put_user(tr, updated)
                write_audit(tr, tenant_id, now, "profile_updated", {"user_id": user_id})
            return updated

        return public_user(self.db.transact(write))

    def me(self, claims: Claims) -> dict[str, Any]:
        tenant_id, user_id = claims["tid"], claims["sub"]
        month = usage_month(self.clock.now())

        def read(tr: Transaction) -> tuple[UserRecord, LicenseRecord, dict[str, int], list[str]]:
            user = get_user(tr, tenant_id, user_id)
            if user is None:
                raise Unauthorized("account no longer exists", code="invalid_token")
            license_record: LicenseRecord = get_license(tr, tenant_id) or {
                "plan": "free",
                "status": "active",
            }
            usage = month_usage(tr, tenant_id, user_id, month)
            return user, license_record, usage, linked_providers(tr, tenant_id, user_id)

        user, license_record, usage, identities = self.db.transact(read)
        plan = effective_plan(dict(license_record), self.clock.now())
        return {
            "user": public_user(user, identities),
            "plan": plan.name,
            "license": {
                "plan": license_record.get("plan"),
                "status": license_record.get("status"),
                "updated_at": license_record.get("updated_at"),
            },
            "limits": plan.public()["limits"],
            "usage": {"period": month, **usage},
        }
