"""Password reset by mail, password change, and a first password for a provider-only account.

Hashing happens outside transactions; the write that follows re-reads what the check relied on.
Reset links follow email verification's pattern: one outstanding token per user
(``t/<tid>/password_reset/<uid>`` holds its SHA-256, ``idx/password_reset/<sha256>`` -> ids), the
token in the URL fragment, single use, one hour. Every way of setting a password ends the
account's other sessions (refresh families, IDE sessions, access tokens minting launch tokens).
"""

from __future__ import annotations

import json
import logging
import math
import secrets as pysecrets
from typing import Any, cast

from shared import passwords
from shared.accounts.audit import write_audit
from shared.accounts.records import PasswordResetRecord, UserIds, UserRecord
from shared.accounts.sessions import advance_sessions_valid_after, revoke_families
from shared.accounts.users import (
    email_hash,
    email_is_verified,
    get_credential,
    get_user,
    lookup_email,
    normalize_email,
    put_credential,
    put_user,
)
from shared.claims import Claims
from shared.clock import Clock, isoformat
from shared.digests import sha256_hex
from shared.errors import BadRequest, Conflict, Forbidden, TooManyRequests, Unauthorized
from shared.store import Database, Transaction
from shared.store.codec import dump, load
from shared.store.keys import INDEXES, TENANTS, THROTTLE

log = logging.getLogger("coditect.accounts")

RESET_TOKEN_SECONDS = 3600
RESET_WINDOW_SECONDS = 3600
RESETS_PER_EMAIL = 3  # per hour, whether or not the address has an account
RESETS_PER_CLIENT = 20  # per hour and client address
# Wrong current passwords (change, deletion) per user in RESET_WINDOW_SECONDS: a stolen access
# token must not become a way to guess the password.
WRONG_PASSWORDS_PER_USER = 5


def reset_link(public_url: str, token: str) -> str:
    # A fragment, as for email verification: no server, log or Referer ever sees it.
    return f"{public_url.rstrip('/')}/#reset_password={token}"


def _record_key(tenant_id: str, user_id: str) -> bytes:
    return TENANTS[tenant_id].key("password_reset", user_id)


def _index_key(digest: str) -> bytes:
    return INDEXES.key("password_reset", digest)


def drop_password_reset(tr: Transaction, tenant_id: str, user_id: str) -> None:
    previous = cast(PasswordResetRecord | None, load(tr.get(_record_key(tenant_id, user_id))))
    if previous is not None:
        tr.clear(_index_key(previous["token_sha256"]))
        tr.clear(_record_key(tenant_id, user_id))


def _count(tr: Transaction, key: bytes, now: float, limit: int) -> float:
    """Record one attempt; seconds to wait (0 when under ``limit``) — nothing written if over."""
    stamps = [t for t in json.loads(tr.get(key) or b"[]") if t > now - RESET_WINDOW_SECONDS]
    if len(stamps) >= limit:
        return stamps[0] + RESET_WINDOW_SECONDS - now
    tr.set(key, json.dumps([*stamps, now]).encode())
    return 0.0


def confirm_password(
    db: Database, clock: Clock, user_id: str, stored_hash: str, password: str
) -> None:
    """403 ``wrong_password`` unless ``password`` matches; 429 after too many wrong ones."""
    key = THROTTLE.key("wrong_password", user_id)

    def recent(tr: Transaction) -> list[float]:
        now = clock.now()
        return [t for t in json.loads(tr.get(key) or b"[]") if t > now - RESET_WINDOW_SECONDS]

    failures = db.transact(recent)
    if len(failures) >= WRONG_PASSWORDS_PER_USER:
        wait = failures[0] + RESET_WINDOW_SECONDS - clock.now()
        raise TooManyRequests(
            "too many wrong passwords; try again later",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    if passwords.verify_password(stored_hash, password):
        return

    def count(tr: Transaction) -> None:
        tr.set(key, json.dumps([*recent(tr), clock.now()]).encode())

    db.transact(count)
    raise Forbidden("the password is not correct", code="wrong_password")


def _set_password(
    tr: Transaction,
    user: UserRecord,
    password_hash: str,
    now: float,
    reason: str,
    *,
    keep_session: str | None = None,
) -> int:
    """The new credential, and every other session over (caller's transaction)."""
    tenant_id, user_id = user["tenant_id"], user["user_id"]
    put_credential(tr, tenant_id, user_id, password_hash, now)
    revoked = revoke_families(tr, tenant_id, user_id, now, reason, keep=keep_session)
    advance_sessions_valid_after(tr, user, now)
    return revoked


class PasswordFlows:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    # -- reset -----------------------------------------------------------------------------------
    def request_reset(self, raw_email: str, client_address: str) -> tuple[UserRecord, str] | None:
        """Store a reset token for the account with this email, if any; the caller mails it.

        Counted per email and per client address whether or not the account exists, so the
        answers (and the 429s) say nothing about which addresses have accounts.
        """
        email = normalize_email(raw_email)
        token = pysecrets.token_urlsafe(32)
        email_key = THROTTLE.key("password_reset_email", email_hash(email))
        client_key = THROTTLE.key("password_reset_client", sha256_hex(client_address))

        def write(tr: Transaction) -> tuple[float, UserRecord | None]:
            now = self.clock.now()
            wait = _count(tr, client_key, now, RESETS_PER_CLIENT)
            wait = wait or _count(tr, email_key, now, RESETS_PER_EMAIL)
            if wait:
                raise TooManyRequests(
                    "too many password reset requests; try again later",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
            ids = lookup_email(tr, email)
            user = get_user(tr, ids["tenant_id"], ids["user_id"]) if ids else None
            if user is None:
                return 0.0, None
            tenant_id, user_id = user["tenant_id"], user["user_id"]
            drop_password_reset(tr, tenant_id, user_id)  # the previous link stops working
            digest = sha256_hex(token)
            record: PasswordResetRecord = {
                "token_sha256": digest,
                "email": email,
                "created_at": isoformat(now),
                "expires_at": now + RESET_TOKEN_SECONDS,
            }
            tr.set(_record_key(tenant_id, user_id), dump(record))
            found: UserIds = {"user_id": user_id, "tenant_id": tenant_id}
            tr.set(_index_key(digest), dump(found))
            write_audit(tr, tenant_id, now, "user.password_reset_requested", {"user_id": user_id})
            return 0.0, user

        _, user = self.db.transact(write)
        return (user, token) if user is not None else None

    def _open_reset(self, tr: Transaction, digest: str) -> tuple[str, UserRecord | None]:
        ids = cast(UserIds | None, load(tr.get(_index_key(digest))))
        if ids is None:
            return "invalid", None
        record = cast(
            PasswordResetRecord | None, load(tr.get(_record_key(ids["tenant_id"], ids["user_id"])))
        )
        user = get_user(tr, ids["tenant_id"], ids["user_id"])
        if record is None or record["token_sha256"] != digest or user is None:
            return "invalid", None
        if record["email"] != user["email"]:
            return "invalid", None  # mailed to an address the account no longer has
        if self.clock.now() >= record["expires_at"]:
            return "expired", None
        return "ok", user

    def confirm_reset(self, token: str, new_password: str) -> UserRecord:
        """Set the password from a mailed link; every session of the account ends."""
        digest = sha256_hex(token)

        def refuse(outcome: str) -> BadRequest:
            if outcome == "expired":
                return BadRequest(
                    "the reset link has expired; ask for a new one", code="token_expired"
                )
            return BadRequest("the reset link is not valid or was used", code="invalid_token")

        outcome, user = self.db.transact(lambda tr: self._open_reset(tr, digest))
        if outcome != "ok" or user is None:
            raise refuse(outcome)
        passwords.check_policy(new_password, user["email"])
        password_hash = passwords.hash_password(new_password)

        def write(tr: Transaction) -> UserRecord:
            outcome, user = self._open_reset(tr, digest)
            if outcome != "ok" or user is None:
                raise refuse(outcome)
            now = self.clock.now()
            tenant_id, user_id = user["tenant_id"], user["user_id"]
            drop_password_reset(tr, tenant_id, user_id)
            if not email_is_verified(user):
                # Following the link proved the mailbox, and its owner chose this password.
                user = {**user, "email_verified": True, "email_verified_at": isoformat(now)}
                put_user(tr, user)
            revoked = _set_password(tr, user, password_hash, now, "password_reset")
            write_audit(
                tr,
                tenant_id,
                now,
                "user.password_reset",
                {"user_id": user_id, "sessions_revoked": revoked},
            )
            return user

        return self.db.transact(write)

    # -- change and set --------------------------------------------------------------------------
    def change(self, claims: Claims, current_password: str, new_password: str) -> UserRecord:
        """Needs the current password; the caller's own session stays, every other one ends."""
        tenant_id, user_id = claims["tid"], claims["sub"]

        def read(tr: Transaction) -> tuple[UserRecord | None, str | None]:
            cred = get_credential(tr, tenant_id, user_id)
            return get_user(tr, tenant_id, user_id), cred["password_hash"] if cred else None

        user, stored_hash = self.db.transact(read)
        if user is None:
            raise Unauthorized("account no longer exists", code="invalid_token")
        if stored_hash is None:
            raise Conflict("this account has no password; set one instead", code="no_password")
        confirm_password(self.db, self.clock, user_id, stored_hash, current_password)
        passwords.check_policy(new_password, user["email"])
        password_hash = passwords.hash_password(new_password)

        def write(tr: Transaction) -> UserRecord:
            user = get_user(tr, tenant_id, user_id)
            cred = get_credential(tr, tenant_id, user_id)
            if user is None or cred is None or cred["password_hash"] != stored_hash:
                # Changed or removed meanwhile: what was checked no longer holds.
                raise Conflict("the password changed meanwhile; try again", code="conflict")
            now = self.clock.now()
            revoked = _set_password(
                tr, user, password_hash, now, "password_changed", keep_session=claims.get("fam")
            )
            write_audit(
                tr,
                tenant_id,
                now,
                "user.password_changed",
                {"user_id": user_id, "sessions_revoked": revoked},
            )
            return user

        return self.db.transact(write)

    def set_first(self, claims: Claims, new_password: str) -> UserRecord:
        """A password for an account that signs in with Google/GitHub only (verified email)."""
        tenant_id, user_id = claims["tid"], claims["sub"]
        user = self.db.transact(lambda tr: get_user(tr, tenant_id, user_id))
        if user is None:
            raise Unauthorized("account no longer exists", code="invalid_token")
        if not email_is_verified(user):
            raise Forbidden("verify your email first", code="email_not_verified")
        passwords.check_policy(new_password, user["email"])
        password_hash = passwords.hash_password(new_password)

        def write(tr: Transaction) -> UserRecord:
            user = get_user(tr, tenant_id, user_id)
            if user is None:
                raise Unauthorized("account no longer exists", code="invalid_token")
            if get_credential(tr, tenant_id, user_id) is not None:
                raise Conflict(
                    "this account has a password; change it instead", code="password_already_set"
                )
            now = self.clock.now()
            revoked = _set_password(
                tr, user, password_hash, now, "password_set", keep_session=claims.get("fam")
            )
            write_audit(
                tr, tenant_id, now, "user.password_set", {"user_id": user_id, "revoked": revoked}
            )
            return user

        return self.db.transact(write)


def send_account_mail(mail: Any, user: UserRecord, subject: str, text: str) -> bool:
    """Mail the account's owner; ``False`` (logged without content) when it could not go out."""
    from shared.mail import MailError, recipient_ref

    try:
        mail.send(user["email"], subject, text)
    except MailError:
        log.warning(
            "account mail not sent",
            extra={
                "fields": {
                    "user_id": user["user_id"],
                    "to_ref": recipient_ref(user["email"]),
                    "subject": subject,
                }
            },
        )
        return False
    return True


def reset_mail(public_url: str, token: str) -> tuple[str, str]:
    text = (
        "Someone asked to reset the password of the Coditect account with this address.\n"
        "To choose a new password, open\n\n"
        f"    {reset_link(public_url, token)}\n\n"
        "The link works once, within one hour. If you did not ask, ignore this mail: your\n"
        "password stays as it is.\n"
    )
    return "Reset your Coditect password", text


def password_notice(what: str) -> tuple[str, str]:
    text = (
        f"The password of your Coditect account was {what}. Every other sign-in session and\n"
        "open IDE session of the account was signed out.\n\n"
        "If this was not you, reset your password at once and look at your account's\n"
        "sessions, connected accounts and API tokens.\n"
    )
    return f"Your Coditect password was {what}", text
