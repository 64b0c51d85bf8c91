"""Email verification for password accounts.

One outstanding token per user: ``t/<tid>/email_verification/<uid>`` holds its SHA-256 (never the
token), the address it was sent to and its expiry; ``idx/email_verification/<sha256>`` maps it to
ids only. A new token replaces the previous one (its index entry is cleared), and following the
link clears both, so each account keeps at most one pair.
"""

from __future__ import annotations

import logging
import math
import secrets
from typing import Any, cast

from shared.accounts.audit import write_audit
from shared.accounts.records import EmailVerificationRecord, UserIds, UserRecord
from shared.accounts.users import email_is_verified, get_user, put_user
from shared.claims import Claims
from shared.clock import Clock, isoformat
from shared.digests import sha256_hex
from shared.errors import BadRequest, TooManyRequests, Unauthorized
from shared.store import Database, Transaction
from shared.store.codec import dump, load
from shared.store.keys import INDEXES, TENANTS

log = logging.getLogger("coditect.accounts")

EMAIL_TOKEN_SECONDS = 24 * 3600
RESEND_LIMIT = 5
RESEND_WINDOW_SECONDS = 3600


def new_email_token() -> str:
    return secrets.token_urlsafe(32)


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
    previous = cast(EmailVerificationRecord | None, load(tr.get(record_key)))
    if previous and previous.get("token_sha256"):
        tr.clear(INDEXES.key("email_verification", previous["token_sha256"]))
    digest = sha256_hex(token)
    record: EmailVerificationRecord = {
        "token_sha256": digest,
        "email": email,
        "created_at": isoformat(now),
        "expires_at": now + EMAIL_TOKEN_SECONDS,
        "resent_at": resent_at or [],
    }
    tr.set(record_key, dump(record))
    ids: UserIds = {"user_id": user_id, "tenant_id": tenant_id}
    tr.set(INDEXES.key("email_verification", digest), dump(ids))


def drop_email_verification(tr: Transaction, tenant_id: str, user_id: str) -> None:
    """Forget the user's outstanding verification token, if any (caller's transaction)."""
    record_key = TENANTS[tenant_id].key("email_verification", user_id)
    previous = cast(EmailVerificationRecord | None, load(tr.get(record_key)))
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


def send_email_verification(mail: Any, public_url: str, user: UserRecord, token: str) -> bool:
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


class EmailVerifications:
    """Following the mailed link, and asking for a new one."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def verify(self, claims: Claims, token: str) -> UserRecord:
        """Consume the signed-in user's verification token; their email becomes verified.

        The caller must be signed in as the account the token was made for: following the link
        proves the mailbox, the session proves the password, and only both together make the
        account's password trustworthy (an unsolicited link clicked by the address's owner must
        not vouch for a password somebody else chose; see docs/oauth.md).
        """
        tenant_id, user_id = claims["tid"], claims["sub"]
        digest = sha256_hex(token)
        index_key = INDEXES.key("email_verification", digest)
        record_key = TENANTS[tenant_id].key("email_verification", user_id)

        def consume(tr: Transaction) -> tuple[str, UserRecord | None]:
            ids = load(tr.get(index_key))
            # Someone else's token answers exactly as an unknown one: no oracle across accounts.
            if ids is None or ids != {"user_id": user_id, "tenant_id": tenant_id}:
                return "invalid", None
            record = cast(EmailVerificationRecord | None, load(tr.get(record_key)))
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
            put_user(tr, user)
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

    def renew(self, claims: Claims) -> tuple[UserRecord, str] | None:
        """A new verification token for the signed-in user (the previous link stops working).

        ``None`` when the email is already verified. At most ``RESEND_LIMIT`` per user in any
        ``RESEND_WINDOW_SECONDS`` (429), counted in the store so every instance agrees.
        """
        tenant_id, user_id = claims["tid"], claims["sub"]
        token = new_email_token()
        record_key = TENANTS[tenant_id].key("email_verification", user_id)

        def renew(tr: Transaction) -> tuple[str, UserRecord | None, float]:
            user = get_user(tr, tenant_id, user_id)
            if user is None:
                return "gone", None, 0.0
            if email_is_verified(user):
                return "verified", None, 0.0
            now = self.clock.now()
            previous = load(tr.get(record_key)) or {}
            recent = [t for t in previous.get("resent_at", []) if t > now - RESEND_WINDOW_SECONDS]
            if len(recent) >= RESEND_LIMIT:
                return "limited", None, recent[0] + RESEND_WINDOW_SECONDS - now
            put_email_verification(
                tr, tenant_id, user_id, user["email"], now, token, resent_at=[*recent, now]
            )
            write_audit(tr, tenant_id, now, "user.email_verification_resent", {"user_id": user_id})
            return "renewed", user, 0.0

        outcome, user, wait = self.db.transact(renew)
        if outcome == "gone":
            raise Unauthorized("account no longer exists", code="invalid_token")
        if outcome == "limited":
            raise TooManyRequests(
                "too many verification mails; try again later",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        if user is None:
            return None
        return user, token
