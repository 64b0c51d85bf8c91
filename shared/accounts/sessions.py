"""The account's sign-in sessions (refresh-token families) and the per-user revocation time.

A session is one refresh-token family (``t/<tid>/refresh_family/<family_id>``): one sign-in and
every token rotated from it. ``user.sessions_valid_after`` (epoch seconds) ends, in one write,
whatever cannot be listed here: IDE sessions (the sidecar learns the time from its heartbeat's
reply) and access tokens already handed out, which can no longer mint launch or workspace
tokens (``check_token_fresh``).
"""

from __future__ import annotations

import math
from typing import Any, cast

from shared.accounts.audit import write_audit
from shared.accounts.records import RefreshFamily, UserRecord
from shared.accounts.users import get_user, put_user
from shared.claims import Claims
from shared.clock import Clock, isoformat
from shared.errors import NotFound, Unauthorized
from shared.store import Database, Transaction
from shared.store.codec import dump, load
from shared.store.keys import TENANTS


def family_key(tenant_id: str, family_id: str) -> bytes:
    return TENANTS[tenant_id].key("refresh_family", family_id)


def user_families(
    tr: Transaction, tenant_id: str, user_id: str
) -> list[tuple[bytes, RefreshFamily]]:
    """Every family of the user, revoked ones included (not a snapshot: revocations decide)."""
    rows = tr.get_range(*TENANTS[tenant_id].range("refresh_family"))
    found = [(key, cast(RefreshFamily, load(raw))) for key, raw in rows]
    return [(key, family) for key, family in found if family.get("user_id") == user_id]


def is_live(family: RefreshFamily, now: float) -> bool:
    return not family["revoked"] and family["expires_at"] > now


def revoke_families(
    tr: Transaction,
    tenant_id: str,
    user_id: str,
    now: float,
    reason: str,
    *,
    keep: str | None = None,
) -> int:
    """Revoke every live family of the user but ``keep``; returns how many (caller's tr)."""
    revoked = 0
    for key, family in user_families(tr, tenant_id, user_id):
        if family["revoked"] or family["family_id"] == keep:
            continue  # already revoked ones keep their original reason
        family.update({"revoked": True, "revoked_reason": reason, "revoked_at": isoformat(now)})
        tr.set(key, dump(family))
        revoked += 1
    return revoked


def advance_sessions_valid_after(tr: Transaction, user: UserRecord, now: float) -> UserRecord:
    """Sessions begun before ``now`` are over; the time only moves forward (caller's tr)."""
    updated: UserRecord = {
        **user,
        "sessions_valid_after": max(now, user.get("sessions_valid_after", 0.0)),
    }
    put_user(tr, updated)
    return updated


def check_token_fresh(user: UserRecord | None, claims: Claims) -> None:
    """Refuse a token issued before the user's sessions were revoked (401 ``session_revoked``).

    ``iat`` has whole seconds, so a token from the very second of the revocation passes: the
    sign-in that follows a sign-out everywhere at once must work.
    """
    if user is None:
        raise Unauthorized("account no longer exists", code="invalid_token")
    valid_after = user.get("sessions_valid_after")
    if valid_after is not None and claims["iat"] < math.floor(valid_after):
        raise Unauthorized("this session was signed out; sign in again", code="session_revoked")


def public_session(family: RefreshFamily, current: str | None) -> dict[str, Any]:
    return {
        "session_id": family["family_id"],
        "method": family["method"],
        "created_at": family["created_at"],
        "last_used_at": family.get("last_used_at", family["created_at"]),
        "client": family.get("client", ""),
        "client_ip": family.get("client_ip", ""),
        "expires_at": isoformat(family["expires_at"]),
        "current": family["family_id"] == current,
    }


class Sessions:
    """List, revoke one, sign out everywhere."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def list(self, claims: Claims) -> list[dict[str, Any]]:
        tenant_id, user_id = claims["tid"], claims["sub"]

        def read(tr: Transaction) -> list[dict[str, Any]]:
            now = self.clock.now()
            live = [f for _, f in user_families(tr, tenant_id, user_id) if is_live(f, now)]
            live.sort(key=lambda f: f.get("last_used_at", f["created_at"]), reverse=True)
            return [public_session(f, claims.get("fam")) for f in live]

        return self.db.transact(read)

    def revoke(self, claims: Claims, session_id: str) -> None:
        """End one session of the caller's; 404 for an unknown one or someone else's."""
        tenant_id, user_id = claims["tid"], claims["sub"]
        key = family_key(tenant_id, session_id)

        def write(tr: Transaction) -> bool:
            family = cast(RefreshFamily | None, load(tr.get(key)))
            if family is None or family["user_id"] != user_id:
                return False
            if family["revoked"]:
                return True  # asked again: already done
            now = self.clock.now()
            family.update(
                {"revoked": True, "revoked_reason": "revoked", "revoked_at": isoformat(now)}
            )
            tr.set(key, dump(family))
            write_audit(
                tr,
                tenant_id,
                now,
                "session.revoked",
                {"user_id": user_id, "family_id": session_id},
            )
            return True

        if not self.db.transact(write):
            raise NotFound("no such session", code="session_not_found")

    def sign_out_everywhere(self, claims: Claims) -> None:
        """Every refresh family, every IDE session and every access token handed out so far."""
        tenant_id, user_id = claims["tid"], claims["sub"]

        def write(tr: Transaction) -> None:
            now = self.clock.now()
            user = get_user(tr, tenant_id, user_id)
            if user is None:
                raise Unauthorized("account no longer exists", code="invalid_token")
            revoked = revoke_families(tr, tenant_id, user_id, now, "signed_out_everywhere")
            advance_sessions_valid_after(tr, user, now)
            write_audit(
                tr,
                tenant_id,
                now,
                "session.signed_out_everywhere",
                {"user_id": user_id, "sessions_revoked": revoked},
            )

        self.db.transact(write)
