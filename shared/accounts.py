"""Accounts and sessions: sign-up, login, refresh-token rotation, logout, and "me".

Password hashing happens outside transactions (it is slow and must not hold a transaction open);
every write that belongs together happens in one transaction, which either commits whole or
leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field

from shared import passwords
from shared.clock import Clock, isoformat
from shared.errors import BadRequest, Conflict, TooManyRequests, Unauthorized, Unprocessable
from shared.plans import effective_plan
from shared.settings import Settings
from shared.store import Database, Transaction, decode_counter
from shared.store.keys import INDEXES, TENANTS, THROTTLE
from shared.tokens import TokenService
from shared.web import new_id

log = logging.getLogger("coditect.accounts")
REFRESH_AUDIENCE_SUFFIX = "/refresh"


# -- request bodies ------------------------------------------------------------------------------
class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)
    password: str = Field(max_length=passwords.MAX_LENGTH)
    plan: Literal["free", "starter", "pro"] = "free"
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    payment_method_id: str | None = Field(default=None, max_length=255)


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)
    password: str = Field(max_length=passwords.MAX_LENGTH)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=1, max_length=4096)


class VerifyEmailRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=256)


# -- records -------------------------------------------------------------------------------------
def _dump(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def _load(raw: bytes | None) -> dict[str, Any] | None:
    return json.loads(raw) if raw is not None else None


def usage_month(now: float) -> str:
    return isoformat(now)[:7]


def add_usage(
    tr: Transaction, tenant_id: str, user_id: str, now: float, metric: str, amount: int
) -> None:
    """Usage counters per user and month (atomic adds: concurrent writers never conflict)."""
    tr.add(TENANTS[tenant_id].key("usage", user_id, usage_month(now), metric), amount)


def normalize_email(raw: str) -> str:
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise Unprocessable(f"email: {error}", code="invalid_email") from None
    # Domains are case-insensitive; local parts are treated so too, as every major provider does.
    return result.normalized.lower()


def email_hash(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()


def get_user(tr: Transaction, tenant_id: str, user_id: str) -> dict[str, Any] | None:
    return _load(tr.get(TENANTS[tenant_id].key("user", user_id)))


def get_license(tr: Transaction, tenant_id: str) -> dict[str, Any] | None:
    return _load(tr.get(TENANTS[tenant_id].key("license")))


def lookup_email(tr: Transaction, email: str) -> dict[str, str] | None:
    return _load(tr.get(INDEXES.key("email", email)))


def write_audit(
    tr: Transaction, tenant_id: str, now: float, kind: str, fields: dict[str, Any]
) -> None:
    event_id = new_id()
    tr.set(
        TENANTS[tenant_id].key("audit", int(now * 1000), event_id),
        _dump({"event_id": event_id, "type": kind, "at": isoformat(now), **fields}),
    )


def write_license(
    tr: Transaction,
    tenant_id: str,
    now: float,
    *,
    plan: str,
    status: str,
    action: str,
    reason: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Set the tenant's license and append its history entry, in the caller's transaction."""
    previous = get_license(tr, tenant_id)
    license_record = {
        **(extra or {}),
        "license_id": new_id(),
        "plan": plan,
        "status": status,
        "previous_license_id": previous["license_id"] if previous else None,
        "updated_at": isoformat(now),
    }
    tr.set(TENANTS[tenant_id].key("license"), _dump(license_record))
    tr.set(
        TENANTS[tenant_id].key("license_history", int(now * 1000), license_record["license_id"]),
        _dump(
            {
                "action": action,
                "reason": reason,
                "from_plan": previous["plan"] if previous else None,
                **license_record,
            }
        ),
    )
    return license_record


def public_user(user: dict[str, Any], identities: list[str] | None = None) -> dict[str, Any]:
    """The user as the API shows it; ``identities`` (linked providers) only where it was read."""
    shown = {
        k: user.get(k)
        for k in ("user_id", "tenant_id", "email", "first_name", "last_name", "created_at")
    }
    shown["email_verified"] = email_is_verified(user)
    if identities is not None:
        shown["identities"] = identities
    return shown


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


class AccountService:
    def __init__(
        self, db: Database, tokens: TokenService, clock: Clock, settings: Settings
    ) -> None:
        self.db = db
        self.tokens = tokens
        self.clock = clock
        self.settings = settings

    @property
    def refresh_audience(self) -> str:
        return self.settings.api_audience + REFRESH_AUDIENCE_SUFFIX

    # -- tokens ----------------------------------------------------------------------------------
    def _issue_access(self, user_id: str, tenant_id: str) -> str:
        token, _ = self.tokens.issue(
            typ="access",
            sub=user_id,
            tid=tenant_id,
            aud=self.settings.api_audience,
            ttl=self.settings.access_token_seconds,
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
        tr.set(
            TENANTS[tenant_id].key("refresh_family", family_id),
            _dump(
                {
                    "family_id": family_id,
                    "user_id": user_id,
                    "current_jti": claims["jti"],
                    "revoked": False,
                    "method": method,
                    "created_at": isoformat(now),
                    "expires_at": claims["exp"],
                }
            ),
        )
        return SessionTokens(
            self._issue_access(user_id, tenant_id), refresh, self.settings.access_token_seconds
        )

    def authenticate(self, access_token: str) -> dict[str, Any]:
        return self.tokens.verify(access_token, aud=self.settings.api_audience, typ="access")

    # -- sign-up ---------------------------------------------------------------------------------
    def register(
        self, body: RegisterRequest, *, verification_token: str | None = None
    ) -> tuple[dict[str, Any], SessionTokens]:
        """Sign up; with ``verification_token`` (see :func:`new_email_token`) the account's
        email-verification token is stored in the same transaction, for the caller to mail
        once this has committed."""
        email = normalize_email(body.email)
        passwords.check_policy(body.password, email)
        password_hash = passwords.hash_password(body.password)
        user_id, tenant_id = new_id(), new_id()

        def create(tr: Transaction) -> tuple[dict[str, Any], SessionTokens]:
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
    def _failures(self, tr: Transaction, key: bytes, now: float) -> list[float]:
        window = self.settings.login_failure_window_seconds
        stamps = json.loads(tr.get(key) or b"[]")
        return [t for t in stamps if t > now - window]

    def login(self, body: LoginRequest) -> tuple[dict[str, Any], SessionTokens]:
        invalid = Unauthorized("email or password is incorrect", code="invalid_credentials")
        try:
            email = normalize_email(body.email)
        except Unprocessable:
            raise invalid from None
        throttle_key = THROTTLE.key("login", email_hash(email))

        def check(tr: Transaction) -> tuple[dict[str, str] | None, str | None]:
            now = self.clock.now()
            failures = self._failures(tr, throttle_key, now)
            if len(failures) >= self.settings.login_max_failures:
                wait = failures[0] + self.settings.login_failure_window_seconds - now
                raise TooManyRequests(
                    "too many failed logins; try again later",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
            # The attempt counts as a failure until it succeeds (which clears the count):
            # recorded before the password is checked, in the transaction that checked the
            # count, so concurrent guesses conflict here and at most the limit get through.
            tr.set(throttle_key, json.dumps([*failures, now][-50:]).encode())
            ids = lookup_email(tr, email)
            if ids is None:
                return None, None
            cred = _load(tr.get(TENANTS[ids["tenant_id"]].key("credential", ids["user_id"])))
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

        def succeed(tr: Transaction) -> tuple[dict[str, Any], SessionTokens]:
            now = self.clock.now()
            tenant_id, user_id = ids["tenant_id"], ids["user_id"]
            user = get_user(tr, tenant_id, user_id)
            cred = _load(tr.get(TENANTS[tenant_id].key("credential", user_id)))
            # The hash was checked outside this transaction: it must still be the account's own
            # (a password removed or changed meanwhile must not yield a session).
            if user is None or cred is None or cred["password_hash"] != stored_hash:
                raise invalid
            tr.clear(throttle_key)
            if rehash:
                tr.set(
                    TENANTS[tenant_id].key("credential", user_id),
                    _dump({"password_hash": rehash, "updated_at": isoformat(now)}),
                )
            write_audit(
                tr, tenant_id, now, "user.login", {"user_id": user_id, "method": "password"}
            )
            return user, self.start_session(tr, user_id, tenant_id, now, "password")

        return self.db.transact(succeed)

    # -- refresh and logout ----------------------------------------------------------------------
    def _verify_refresh(self, token: str) -> dict[str, Any]:
        claims = self.tokens.verify(token, aud=self.refresh_audience, typ="refresh")
        if not isinstance(claims.get("fam"), str):
            raise Unauthorized("invalid token", code="invalid_token")
        return claims

    def refresh(self, body: RefreshRequest) -> SessionTokens:
        claims = self._verify_refresh(body.refresh_token)
        tenant_id, family_id = claims["tid"], claims["fam"]
        family_key = TENANTS[tenant_id].key("refresh_family", family_id)
        new_refresh, new_claims = self.tokens.issue(
            typ="refresh",
            sub=claims["sub"],
            tid=tenant_id,
            aud=self.refresh_audience,
            ttl=self.settings.refresh_token_seconds,
            extra={"fam": family_id},
        )

        def rotate(tr: Transaction) -> str:
            family = _load(tr.get(family_key))
            if family is None or family["revoked"] or family["user_id"] != claims["sub"]:
                return "revoked"
            now = self.clock.now()
            if family["current_jti"] != claims["jti"]:
                # A rotated token came back: someone holds a copy. End the whole family.
                family.update(revoked=True, revoked_reason="reuse", revoked_at=isoformat(now))
                tr.set(family_key, _dump(family))
                write_audit(
                    tr,
                    tenant_id,
                    now,
                    "session.refresh_reuse",
                    {"user_id": claims["sub"], "family_id": family_id},
                )
                return "reused"
            family.update(
                current_jti=new_claims["jti"],
                expires_at=new_claims["exp"],
                rotated_at=isoformat(now),
            )
            tr.set(family_key, _dump(family))
            return "rotated"

        outcome = self.db.transact(rotate)
        if outcome == "reused":
            raise Unauthorized(
                "refresh token was already used; the session is revoked",
                code="refresh_token_reused",
            )
        if outcome == "revoked":
            raise Unauthorized("session is no longer valid", code="session_revoked")
        return SessionTokens(
            self._issue_access(claims["sub"], tenant_id),
            new_refresh,
            self.settings.access_token_seconds,
        )

    def logout(self, body: RefreshRequest) -> None:
        claims = self._verify_refresh(body.refresh_token)
        family_key = TENANTS[claims["tid"]].key("refresh_family", claims["fam"])

        def revoke(tr: Transaction) -> None:
            family = _load(tr.get(family_key))
            if family is None or family["revoked"] or family["user_id"] != claims["sub"]:
                return
            now = self.clock.now()
            family.update(revoked=True, revoked_reason="logout", revoked_at=isoformat(now))
            tr.set(family_key, _dump(family))
            write_audit(
                tr,
                claims["tid"],
                now,
                "session.logout",
                {"user_id": claims["sub"], "family_id": claims["fam"]},
            )

        self.db.transact(revoke)

    # -- email verification ----------------------------------------------------------------------
    def verify_email(self, claims: dict[str, Any], token: str) -> dict[str, Any]:
        """Consume the signed-in user's verification token; their email becomes verified.

        The caller must be signed in as the account the token was made for: following the link
        proves the mailbox, the session proves the password, and only both together make the
        account's password trustworthy (an unsolicited link clicked by the address's owner must
        not vouch for a password somebody else chose; see docs/oauth.md).
        """
        tenant_id, user_id = claims["tid"], claims["sub"]
        digest = _token_sha256(token)
        index_key = INDEXES.key("email_verification", digest)
        record_key = TENANTS[tenant_id].key("email_verification", user_id)

        def consume(tr: Transaction) -> tuple[str, dict[str, Any] | None]:
            ids = _load(tr.get(index_key))
            # Someone else's token answers exactly as an unknown one: no oracle across accounts.
            if ids is None or ids != {"user_id": user_id, "tenant_id": tenant_id}:
                return "invalid", None
            record = _load(tr.get(record_key))
            user = get_user(tr, tenant_id, user_id)
            if record is None or record.get("token_sha256") != digest or user is None:
                return "invalid", None
            if record.get("email") != user["email"]:
                return "invalid", None  # issued for an address the account no longer has
            now = self.clock.now()
            if now >= record["expires_at"]:
                return "expired", None  # kept: a resend replaces it
            tr.clear(index_key)
            tr.clear(record_key)
            if email_is_verified(user):
                return "ok", user  # a provider proved it meanwhile; the token is simply spent
            user = {**user, "email_verified": True, "email_verified_at": isoformat(now)}
            tr.set(TENANTS[tenant_id].key("user", user_id), _dump(user))
            write_audit(
                tr, tenant_id, now, "user.email_verified", {"user_id": user_id, "method": "email"}
            )
            return "ok", user

        outcome, user = self.db.transact(consume)
        if outcome == "expired":
            raise BadRequest(
                "the verification link has expired; ask for a new one", code="token_expired"
            )
        if outcome != "ok" or user is None:
            raise BadRequest("the verification link is not valid", code="invalid_token")
        return user

    def renew_email_verification(self, claims: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
        """A new verification token for the signed-in user (the previous link stops working).

        ``None`` when the email is already verified. At most ``RESEND_LIMIT`` per user in any
        ``RESEND_WINDOW_SECONDS`` (429), counted in the store so every instance agrees.
        """
        tenant_id, user_id = claims["tid"], claims["sub"]
        token = new_email_token()
        record_key = TENANTS[tenant_id].key("email_verification", user_id)

        def renew(tr: Transaction) -> tuple[str, Any]:
            user = get_user(tr, tenant_id, user_id)
            if user is None:
                return "gone", None
            if email_is_verified(user):
                return "verified", None
            now = self.clock.now()
            previous = _load(tr.get(record_key)) or {}
            recent = [t for t in previous.get("resent_at", []) if t > now - RESEND_WINDOW_SECONDS]
            if len(recent) >= RESEND_LIMIT:
                return "limited", recent[0] + RESEND_WINDOW_SECONDS - now
            put_email_verification(
                tr, tenant_id, user_id, user["email"], now, token, resent_at=[*recent, now]
            )
            write_audit(tr, tenant_id, now, "user.email_verification_resent", {"user_id": user_id})
            return "renewed", user

        outcome, value = self.db.transact(renew)
        if outcome == "gone":
            raise Unauthorized("account no longer exists", code="invalid_token")
        if outcome == "limited":
            raise TooManyRequests(
                "too many verification mails; try again later",
                headers={"Retry-After": str(max(1, math.ceil(value)))},
            )
        if outcome == "verified":
            return None
        return value, token

    # -- me --------------------------------------------------------------------------------------
    def me(self, claims: dict[str, Any]) -> dict[str, Any]:
        tenant_id, user_id = claims["tid"], claims["sub"]

        def read(tr: Transaction) -> dict[str, Any]:
            user = get_user(tr, tenant_id, user_id)
            if user is None:
                raise Unauthorized("account no longer exists", code="invalid_token")
            license_record = get_license(tr, tenant_id) or {"plan": "free", "status": "active"}
            month = usage_month(self.clock.now())
            begin, end = TENANTS[tenant_id].range("usage", user_id, month)
            usage = {
                TENANTS[tenant_id].unpack(k)[-1]: decode_counter(v)
                for k, v in tr.get_range(begin, end, snapshot=True)
            }
            identities = linked_providers(tr, tenant_id, user_id)
            return {"user": user, "license": license_record, "usage": usage, "ids": identities}

        found = self.db.transact(read)
        plan = effective_plan(found["license"], self.clock.now())
        return {
            "user": public_user(found["user"], found["ids"]),
            "plan": plan.name,
            "license": {k: found["license"].get(k) for k in ("plan", "status", "updated_at")},
            "limits": plan.public()["limits"],
            "usage": {"period": usage_month(self.clock.now()), **found["usage"]},
        }


# -- identities from other sign-in methods (Google, GitHub) --------------------------------------
# The index ("identity", provider, subject) -> {user_id, tenant_id} is global and holds ids only;
# the linked-identity record lives under the tenant and is written in the same transaction.
def lookup_identity(tr: Transaction, provider: str, subject: str) -> dict[str, str] | None:
    return _load(tr.get(INDEXES.key("identity", provider, subject)))


def link_identity(
    tr: Transaction,
    tenant_id: str,
    user_id: str,
    now: float,
    *,
    provider: str,
    subject: str,
    email: str,
) -> dict[str, Any]:
    """Link ``provider``/``subject`` to the user, in the caller's transaction."""
    record = {
        "provider": provider,
        "subject": subject,
        "user_id": user_id,
        "email": email,
        "linked_at": isoformat(now),
    }
    tr.set(TENANTS[tenant_id].key("identity", user_id, provider, subject), _dump(record))
    tr.set(
        INDEXES.key("identity", provider, subject),
        _dump({"user_id": user_id, "tenant_id": tenant_id}),
    )
    write_audit(
        tr,
        tenant_id,
        now,
        "identity.linked",
        {"user_id": user_id, "provider": provider, "subject": subject},
    )
    return record


def create_personal_account(
    tr: Transaction,
    now: float,
    *,
    user_id: str,
    tenant_id: str,
    email: str,
    first_name: str | None,
    last_name: str | None,
    requested_plan: str,
    email_verified: bool,
    method: str,
    password_hash: str | None = None,
) -> dict[str, Any]:
    """A personal tenant, its user, the credential (if any), the free license and the email index.

    ``email`` must be normalized; an email that already has an account is refused (409). Paid
    plans become paid only when billing confirms, so every account starts on free.
    """
    if lookup_email(tr, email) is not None:
        raise Conflict("an account with this email already exists", code="email_taken")
    tenant = TENANTS[tenant_id]
    user = {
        "user_id": user_id,
        "tenant_id": tenant_id,
        "email": email,
        "first_name": first_name,
        "last_name": last_name,
        "created_at": isoformat(now),
        "requested_plan": requested_plan,
        "email_verified": email_verified,
    }
    tenant_record = {
        "tenant_id": tenant_id,
        "kind": "personal",
        "owner_user_id": user_id,
        "created_at": isoformat(now),
    }
    tr.set(tenant.key(), _dump(tenant_record))
    tr.set(tenant.key("user", user_id), _dump(user))
    if password_hash is not None:
        tr.set(
            tenant.key("credential", user_id),
            _dump({"password_hash": password_hash, "updated_at": isoformat(now)}),
        )
    tr.set(INDEXES.key("email", email), _dump({"user_id": user_id, "tenant_id": tenant_id}))
    write_license(
        tr, tenant_id, now, plan="free", status="active", action="created", reason="sign-up"
    )
    write_audit(
        tr,
        tenant_id,
        now,
        "user.registered",
        {"user_id": user_id, "requested_plan": requested_plan, "method": method},
    )
    return user


def create_account_without_password(
    tr: Transaction,
    now: float,
    *,
    email: str,
    first_name: str | None,
    last_name: str | None,
    method: str,
) -> dict[str, Any]:
    """An account whose email the caller's provider verified; password login fails for it."""
    return create_personal_account(
        tr,
        now,
        user_id=new_id(),
        tenant_id=new_id(),
        email=email,
        first_name=first_name,
        last_name=last_name,
        requested_plan="free",
        email_verified=True,
        method=method,
    )


# -- email ownership -----------------------------------------------------------------------------
def email_is_verified(user: dict[str, Any]) -> bool:
    """Records from before the flag existed count as unverified: only ``True`` proves anything."""
    return user.get("email_verified") is True


def linked_providers(tr: Transaction, tenant_id: str, user_id: str) -> list[str]:
    """The providers linked to the user, sorted (snapshot: a display value, not a decision)."""
    tenant = TENANTS[tenant_id]
    rows = tr.get_range(*tenant.range("identity", user_id), snapshot=True)
    return sorted({tenant.unpack(key)[2] for key, _ in rows})


def verify_email_by_oauth(
    tr: Transaction, tenant_id: str, user: dict[str, Any], now: float, *, provider: str
) -> dict[str, Any]:
    """A provider vouched for the unverified email of ``user``: take the account back for them.

    Whoever set the password never proved they own the address (it may be someone who signed
    up with another person's email before they did), so, in the caller's transaction: the email
    becomes verified, the password credential is removed and every refresh-token family of the
    user is revoked. Returns the audit fields written.
    """
    user_id = user["user_id"]
    tenant = TENANTS[tenant_id]
    at = isoformat(now)
    tr.set(
        tenant.key("user", user_id),
        _dump({**user, "email_verified": True, "email_verified_at": at}),
    )
    credential_key = tenant.key("credential", user_id)
    password_removed = tr.get(credential_key) is not None
    tr.clear(credential_key)
    drop_email_verification(tr, tenant_id, user_id)  # the mailed link has nothing left to prove
    revoked = 0
    # Not a snapshot read: a session started concurrently conflicts and is seen on the retry.
    for key, raw in tr.get_range(*tenant.range("refresh_family")):
        family = json.loads(raw)
        if family.get("user_id") != user_id or family.get("revoked"):
            continue  # already revoked ones keep their original reason
        family.update(revoked=True, revoked_reason="email_verified_by_oauth", revoked_at=at)
        tr.set(key, _dump(family))
        revoked += 1
    fields = {
        "user_id": user_id,
        "provider": provider,
        "password_removed": password_removed,
        "sessions_revoked": revoked,
    }
    write_audit(tr, tenant_id, now, "user.email_verified", fields)
    return fields


# -- email verification for password accounts ---------------------------------------------------
# One outstanding token per user: t/<tid>/email_verification/<uid> holds its SHA-256 (never the
# token), the address it was sent to and its expiry; idx/email_verification/<sha256> maps it to
# ids only. A new token replaces the previous one (its index entry is cleared), and following the
# link clears both, so each account keeps at most one pair.
EMAIL_TOKEN_SECONDS = 24 * 3600
RESEND_LIMIT = 5
RESEND_WINDOW_SECONDS = 3600


def new_email_token() -> str:
    return secrets.token_urlsafe(32)


def _token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def put_email_verification(
    tr: Transaction,
    tenant_id: str,
    user_id: str,
    email: str,
    now: float,
    token: str,
    *,
    resent_at: list[float] | None = None,
) -> None:
    """Store ``token``'s hash as the user's current verification token, in the caller's
    transaction (the previous token, if any, stops working)."""
    record_key = TENANTS[tenant_id].key("email_verification", user_id)
    previous = _load(tr.get(record_key))
    if previous and previous.get("token_sha256"):
        tr.clear(INDEXES.key("email_verification", previous["token_sha256"]))
    digest = _token_sha256(token)
    tr.set(
        record_key,
        _dump(
            {
                "token_sha256": digest,
                "email": email,
                "created_at": isoformat(now),
                "expires_at": now + EMAIL_TOKEN_SECONDS,
                "resent_at": resent_at or [],
            }
        ),
    )
    tr.set(
        INDEXES.key("email_verification", digest),
        _dump({"user_id": user_id, "tenant_id": tenant_id}),
    )


def drop_email_verification(tr: Transaction, tenant_id: str, user_id: str) -> None:
    """Forget the user's outstanding verification token, if any (caller's transaction)."""
    record_key = TENANTS[tenant_id].key("email_verification", user_id)
    previous = _load(tr.get(record_key))
    if previous is not None:
        tr.clear(INDEXES.key("email_verification", previous["token_sha256"]))
        tr.clear(record_key)


def verification_link(public_url: str, token: str) -> str:
    # A fragment: browsers send it to no server (no access log, no Referer); the app posts it.
    return f"{public_url.rstrip('/')}/#verify_email={token}"


def verification_mail(public_url: str, token: str) -> tuple[str, str]:
    """Subject and text of the verification mail."""
    hours = EMAIL_TOKEN_SECONDS // 3600
    text = (
        "Confirm that this address belongs to your Coditect account: sign in, then open\n\n"
        f"    {verification_link(public_url, token)}\n\n"
        f"The link works once, within {hours} hours. If you did not sign up for Coditect,\n"
        "ignore this mail: without the password nobody can use the link.\n"
    )
    return "Confirm your email for Coditect", text


def send_email_verification(mail: Any, public_url: str, user: dict[str, Any], token: str) -> bool:
    """Mail the link; ``False`` (logged, without the token) when the mail could not be sent."""
    from shared.mail import MailError, recipient_ref

    subject, text = verification_mail(public_url, token)
    try:
        mail.send(user["email"], subject, text)
    except MailError:
        log.warning(
            "verification mail not sent; the user can ask again",
            extra={"fields": {"user_id": user["user_id"], "to_ref": recipient_ref(user["email"])}},
        )
        return False
    return True
