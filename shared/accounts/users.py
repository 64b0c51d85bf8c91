"""Users and their personal tenants: lookups, the public view, and sign-up's writes."""

from __future__ import annotations

from typing import Any, cast

from shared.accounts.audit import write_audit
from shared.accounts.licenses import write_license
from shared.accounts.records import CredentialRecord, TenantRecord, UserIds, UserRecord
from shared.clock import isoformat
from shared.digests import sha256_hex
from shared.errors import Conflict, Unprocessable
from shared.ids import new_id
from shared.store import Transaction
from shared.store.codec import dump, load
from shared.store.keys import INDEXES, TENANTS


def normalize_email(raw: str) -> str:
    # Imported here: only sign-up and login need it, not every area that reads a user.
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise Unprocessable(f"email: {error}", code="invalid_email") from None
    # Domains are case-insensitive; local parts are treated so too, as every major provider does.
    return result.normalized.lower()


def email_hash(email: str) -> str:
    return sha256_hex(email)


def get_user(tr: Transaction, tenant_id: str, user_id: str) -> UserRecord | None:
    return cast(UserRecord | None, load(tr.get(TENANTS[tenant_id].key("user", user_id))))


def put_user(tr: Transaction, user: UserRecord) -> None:
    tr.set(TENANTS[user["tenant_id"]].key("user", user["user_id"]), dump(user))


def get_credential(tr: Transaction, tenant_id: str, user_id: str) -> CredentialRecord | None:
    return cast(
        CredentialRecord | None, load(tr.get(TENANTS[tenant_id].key("credential", user_id)))
    )


def put_credential(
    tr: Transaction, tenant_id: str, user_id: str, password_hash: str, now: float
) -> None:
    record: CredentialRecord = {"password_hash": password_hash, "updated_at": isoformat(now)}
    tr.set(TENANTS[tenant_id].key("credential", user_id), dump(record))


def lookup_email(tr: Transaction, email: str) -> UserIds | None:
    return cast(UserIds | None, load(tr.get(INDEXES.key("email", email))))


def email_is_verified(user: UserRecord) -> bool:
    """Records from before the flag existed count as unverified: only ``True`` proves anything."""
    return user.get("email_verified") is True


def public_user(user: UserRecord, identities: list[str] | None = None) -> dict[str, Any]:
    """The user as the API shows it; ``identities`` (linked providers) only where it was read."""
    shown: dict[str, Any] = {
        "user_id": user["user_id"],
        "tenant_id": user["tenant_id"],
        "email": user["email"],
        "first_name": user.get("first_name"),
        "last_name": user.get("last_name"),
        "created_at": user["created_at"],
        "email_verified": email_is_verified(user),
    }
    if identities is not None:
        shown["identities"] = identities
    return shown


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
) -> UserRecord:
    """A personal tenant, its user, the credential (if any), the free license and the email index.

    ``email`` must be normalized; an email that already has an account is refused (409). Paid
    plans become paid only when billing confirms, so every account starts on free.
    """
    if lookup_email(tr, email) is not None:
        raise Conflict("an account with this email already exists", code="email_taken")
    user: UserRecord = {
        "user_id": user_id,
        "tenant_id": tenant_id,
        "email": email,
        "first_name": first_name,
        "last_name": last_name,
        "created_at": isoformat(now),
        "requested_plan": requested_plan,
        "email_verified": email_verified,
    }
    tenant: TenantRecord = {
        "tenant_id": tenant_id,
        "kind": "personal",
        "owner_user_id": user_id,
        "created_at": isoformat(now),
    }
    tr.set(TENANTS[tenant_id].key(), dump(tenant))
    put_user(tr, user)
    if password_hash is not None:
        put_credential(tr, tenant_id, user_id, password_hash, now)
    ids: UserIds = {"user_id": user_id, "tenant_id": tenant_id}
    tr.set(INDEXES.key("email", email), dump(ids))
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
) -> UserRecord:
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
