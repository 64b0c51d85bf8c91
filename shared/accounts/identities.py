"""Identities from other sign-in methods (Google, GitHub), and the take-back they allow.

The index ``idx/identity/<provider>/<subject>`` -> ids is global and holds ids only; the linked
identity record lives under the tenant and is written in the same transaction.
"""

from __future__ import annotations

from typing import Any, cast

from shared.accounts.audit import write_audit
from shared.accounts.email_verification import drop_email_verification
from shared.accounts.records import IdentityRecord, UserIds, UserRecord
from shared.clock import isoformat
from shared.store import Transaction
from shared.store.codec import dump, load
from shared.store.keys import INDEXES, TENANTS


def lookup_identity(tr: Transaction, provider: str, subject: str) -> UserIds | None:
    return cast(UserIds | None, load(tr.get(INDEXES.key("identity", provider, subject))))


def link_identity(
    tr: Transaction,
    tenant_id: str,
    user_id: str,
    now: float,
    *,
    provider: str,
    subject: str,
    email: str,
) -> IdentityRecord:
    """Link ``provider``/``subject`` to the user, in the caller's transaction."""
    record: IdentityRecord = {
        "provider": provider,
        "subject": subject,
        "user_id": user_id,
        "email": email,
        "linked_at": isoformat(now),
    }
    tr.set(TENANTS[tenant_id].key("identity", user_id, provider, subject), dump(record))
    ids: UserIds = {"user_id": user_id, "tenant_id": tenant_id}
    tr.set(INDEXES.key("identity", provider, subject), dump(ids))
    write_audit(
        tr,
        tenant_id,
        now,
        "identity.linked",
        {"user_id": user_id, "provider": provider, "subject": subject},
    )
    return record


def linked_providers(tr: Transaction, tenant_id: str, user_id: str) -> list[str]:
    """The providers linked to the user, sorted (snapshot: a display value, not a decision)."""
    tenant = TENANTS[tenant_id]
    rows = tr.get_range(*tenant.range("identity", user_id), snapshot=True)
    return sorted({str(tenant.unpack(key)[2]) for key, _ in rows})


def verify_email_by_oauth(
    tr: Transaction, tenant_id: str, user: UserRecord, now: float, *, provider: str
) -> dict[str, Any]:
    """A provider vouched for the unverified email of ``user``: take the account back for them.

    Whoever set the password never proved they own the address (it may be someone who signed
    up with another person's email before they did), so, in the caller's transaction: the email
    becomes verified, the password credential is removed, every refresh-token family and API
    token of the user is revoked, ``sessions_valid_after`` moves to now (IDE sessions end at the
    sidecars' next heartbeat) and the running workspaces are set to stop. Returns the audit
    fields written; after the commit the caller publishes a reconcile for each workspace in
    ``workspaces_stopped`` and tells the owner (:func:`shared.accounts.notices.after_take_back`).
    """
    from shared.accounts.api_tokens import revoke_all_tokens
    from shared.accounts.sessions import advance_sessions_valid_after, revoke_families
    from shared.workspaces import model

    user_id = user["user_id"]
    tenant = TENANTS[tenant_id]
    at = isoformat(now)
    user = {**user, "email_verified": True, "email_verified_at": at}
    advance_sessions_valid_after(tr, user, now)  # writes the user record
    credential_key = tenant.key("credential", user_id)
    password_removed = tr.get(credential_key) is not None
    tr.clear(credential_key)
    drop_email_verification(tr, tenant_id, user_id)  # the mailed link has nothing left to prove
    # Not a snapshot read: a session started concurrently conflicts and is seen on the retry.
    revoked = revoke_families(tr, tenant_id, user_id, now, "email_verified_by_oauth")
    tokens_revoked = revoke_all_tokens(tr, tenant_id, user_id, now, "email_verified_by_oauth")
    stopped = []
    for ws in model.list_for_user(tr, tenant_id, user_id):
        if ws["desired"] == "running":
            model.set_desired(tr, ws, "stopped", now, reason="account taken back")
            stopped.append(ws["workspace_id"])
    fields = {
        "user_id": user_id,
        "provider": provider,
        "password_removed": password_removed,
        "sessions_revoked": revoked,
        "api_tokens_revoked": tokens_revoked,
        "workspaces_stopped": stopped,
    }
    write_audit(tr, tenant_id, now, "user.email_verified", fields)
    return {**fields, "tenant_id": tenant_id}
