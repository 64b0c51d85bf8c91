"""Deleting an account, and exporting its data.

Deletion is confirmed by the password (or, for an account that signs in only with Google/GitHub,
by a sign-in less than five minutes old). The caller cancels the Stripe subscription first (a
failure there stops everything before any write); then one transaction sets every workspace to
``deleted`` (the reconciler removes pods and volumes), removes the personal data and frees the
email. What the law and billing need stays: see docs/data-model.md "Deleted accounts".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from shared.accounts.api_tokens import public_token, revoke_all_tokens, user_tokens
from shared.accounts.audit import write_audit
from shared.accounts.email_verification import drop_email_verification
from shared.accounts.licenses import get_license
from shared.accounts.password_flows import confirm_password, drop_password_reset
from shared.accounts.records import IdentityRecord, RefreshFamily, UserRecord
from shared.accounts.sessions import family_key, is_live, public_session, user_families
from shared.accounts.users import get_credential, get_user, lookup_email, public_user
from shared.claims import Claims
from shared.clock import Clock, isoformat
from shared.errors import Forbidden, Unauthorized, Unprocessable
from shared.store import Database, Transaction, decode_counter
from shared.store.codec import dump, load
from shared.store.keys import INDEXES, TENANTS

FRESH_SIGN_IN_SECONDS = 5 * 60
EXPORT_AUDIT_LIMIT = 1000


@dataclass(frozen=True)
class DeletedAccount:
    user: UserRecord
    workspaces_deleted: list[str]


def tombstone_key(tenant_id: str, user_id: str) -> bytes:
    return TENANTS[tenant_id].key("deleted_user", user_id)


def user_identities(tr: Transaction, tenant_id: str, user_id: str) -> list[IdentityRecord]:
    rows = tr.get_range(*TENANTS[tenant_id].range("identity", user_id))
    return [cast(IdentityRecord, load(raw)) for _, raw in rows]


class AccountDeletion:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def _gone(self, tr: Transaction, claims: Claims) -> Unauthorized:
        if tr.get(tombstone_key(claims["tid"], claims["sub"])) is not None:
            return Unauthorized("this account was deleted", code="account_deleted")
        return Unauthorized("account no longer exists", code="invalid_token")

    def confirm(self, claims: Claims, password: str | None) -> None:
        """The password, or a sign-in less than five minutes old for provider-only accounts."""
        tenant_id, user_id = claims["tid"], claims["sub"]

        def read(tr: Transaction) -> tuple[str | None, RefreshFamily | None]:
            if get_user(tr, tenant_id, user_id) is None:
                raise self._gone(tr, claims)
            cred = get_credential(tr, tenant_id, user_id)
            fam = claims.get("fam")
            family = cast(RefreshFamily | None, load(tr.get(family_key(tenant_id, fam or "-"))))
            return (cred["password_hash"] if cred else None), family

        stored_hash, family = self.db.transact(read)
        if stored_hash is not None:
            if password is None:
                raise Unprocessable(
                    "password: required to delete the account", code="password_required"
                )
            confirm_password(self.db, self.clock, user_id, stored_hash, password)
            return
        now = self.clock.now()
        fresh = (
            family is not None
            and is_live(family, now)
            and family["user_id"] == user_id
            and now - datetime.fromisoformat(family["created_at"]).timestamp()
            < FRESH_SIGN_IN_SECONDS
        )
        if not fresh:
            raise Forbidden(
                "sign in again (less than 5 minutes ago) to delete the account",
                code="reauthentication_required",
            )

    def delete(self, claims: Claims) -> DeletedAccount:
        """Everything personal goes, in one transaction; a second call is refused (401)."""
        from shared.workspaces import model

        tenant_id, user_id = claims["tid"], claims["sub"]
        tenant = TENANTS[tenant_id]

        def write(tr: Transaction) -> DeletedAccount:
            user = get_user(tr, tenant_id, user_id)
            if user is None:
                raise self._gone(tr, claims)
            now = self.clock.now()
            deleted = []
            for ws in model.list_for_user(tr, tenant_id, user_id):
                if ws["desired"] != "deleted":
                    model.set_desired(tr, ws, "deleted", now, reason="account deleted")
                    deleted.append(ws["workspace_id"])
            for key, _family in user_families(tr, tenant_id, user_id):
                tr.clear(key)  # they hold client addresses; a refresh now finds no session
            tokens = revoke_all_tokens(tr, tenant_id, user_id, now, "account_deleted")
            identities = user_identities(tr, tenant_id, user_id)
            for identity in identities:
                tr.clear(INDEXES.key("identity", identity["provider"], identity["subject"]))
            begin, end = tenant.range("identity", user_id)
            tr.clear_range(begin, end)
            drop_email_verification(tr, tenant_id, user_id)
            drop_password_reset(tr, tenant_id, user_id)
            tr.clear(tenant.key("credential", user_id))
            if lookup_email(tr, user["email"]) == {"user_id": user_id, "tenant_id": tenant_id}:
                tr.clear(INDEXES.key("email", user["email"]))  # the address can sign up again
            tr.clear(tenant.key("user", user_id))
            tr.set(
                tombstone_key(tenant_id, user_id),
                dump({"user_id": user_id, "deleted_at": isoformat(now)}),
            )
            record = load(tr.get(tenant.key()))
            if record is not None:
                tr.set(tenant.key(), dump({**record, "deleted_at": isoformat(now)}))
            write_audit(
                tr,
                tenant_id,
                now,
                "user.deleted",
                {
                    "user_id": user_id,
                    "workspaces_deleted": deleted,
                    "api_tokens_revoked": tokens,
                    "identities_removed": len(identities),
                },
            )
            return DeletedAccount(user, deleted)

        return self.db.transact(write)

    def run(
        self,
        claims: Claims,
        password: str | None,
        cancel_subscriptions: Callable[[str], list[str]],
    ) -> DeletedAccount:
        self.confirm(claims, password)
        cancel_subscriptions(claims["tid"])  # before any write: a failure leaves all as it was
        return self.delete(claims)

    def export(self, claims: Claims) -> dict[str, Any]:
        """Everything the platform holds about the caller, as JSON (secrets never included)."""
        from shared.workspaces import model

        tenant_id, user_id = claims["tid"], claims["sub"]
        tenant = TENANTS[tenant_id]

        def read(tr: Transaction) -> dict[str, Any]:
            user = get_user(tr, tenant_id, user_id)
            if user is None:
                raise self._gone(tr, claims)
            now = self.clock.now()
            identities = user_identities(tr, tenant_id, user_id)
            history = [load(v) for _, v in tr.get_range(*tenant.range("license_history"))]
            usage: dict[str, dict[str, int]] = {}
            for key, value in tr.get_range(*tenant.range("usage", user_id), snapshot=True):
                month, metric = tenant.unpack(key)[-2:]
                usage.setdefault(str(month), {})[str(metric)] = decode_counter(value)
            audit = [
                load(v)
                for _, v in tr.get_range(
                    *tenant.range("audit"), limit=EXPORT_AUDIT_LIMIT, reverse=True, snapshot=True
                )
            ]
            workspaces = [
                {k: ws.get(k) for k in ("workspace_id", "name", "status", "created_at", "plan")}
                for ws in model.list_for_user(tr, tenant_id, user_id)
            ]
            return {
                "exported_at": isoformat(now),
                "user": public_user(user, sorted({i["provider"] for i in identities})),
                "has_password": get_credential(tr, tenant_id, user_id) is not None,
                "connected_accounts": [dict(i) for i in identities],
                "sessions": [
                    public_session(f, None)
                    for _, f in user_families(tr, tenant_id, user_id)
                    if is_live(f, now)
                ],
                "api_tokens": [public_token(t) for t in user_tokens(tr, tenant_id, user_id)],
                "license": get_license(tr, tenant_id),
                "license_history": history,
                "workspaces": workspaces,
                "usage": usage,
                "audit": audit,
            }

        return self.db.transact(read)
