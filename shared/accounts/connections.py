"""Connected accounts: the Google/GitHub identities linked to the user, and unlinking one.

Linking while signed in goes through the sign-in flow whose state names the owner
(``OAuthService.start_link``). Unlinking never removes the last way to sign in: an account without a
password keeps at least one identity.
"""

from __future__ import annotations

from typing import Any, cast

from shared.accounts.audit import write_audit
from shared.accounts.records import IdentityRecord
from shared.accounts.users import get_credential, get_user
from shared.claims import Claims
from shared.clock import Clock
from shared.errors import Conflict, NotFound, Unauthorized
from shared.store import Database, Transaction
from shared.store.codec import load
from shared.store.keys import INDEXES, TENANTS


def identities_of(tr: Transaction, tenant_id: str, user_id: str) -> list[IdentityRecord]:
    rows = tr.get_range(*TENANTS[tenant_id].range("identity", user_id))
    return [cast(IdentityRecord, load(raw)) for _, raw in rows]


def public_identity(record: IdentityRecord) -> dict[str, Any]:
    return {
        "provider": record["provider"],
        "subject": record["subject"],
        "email": record["email"],
        "linked_at": record["linked_at"],
    }


class Connections:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def list(self, claims: Claims) -> dict[str, Any]:
        tenant_id, user_id = claims["tid"], claims["sub"]

        def read(tr: Transaction) -> dict[str, Any]:
            if get_user(tr, tenant_id, user_id) is None:
                raise Unauthorized("account no longer exists", code="invalid_token")
            found = identities_of(tr, tenant_id, user_id)
            found.sort(key=lambda i: (i["linked_at"], i["provider"], i["subject"]))
            return {
                "connections": [public_identity(i) for i in found],
                "has_password": get_credential(tr, tenant_id, user_id) is not None,
            }

        return self.db.transact(read)

    def unlink(self, claims: Claims, provider: str, subject: str) -> None:
        tenant_id, user_id = claims["tid"], claims["sub"]
        record_key = TENANTS[tenant_id].key("identity", user_id, provider, subject)

        def write(tr: Transaction) -> None:
            if get_user(tr, tenant_id, user_id) is None:
                raise Unauthorized("account no longer exists", code="invalid_token")
            if tr.get(record_key) is None:
                raise NotFound("no such connected account", code="connection_not_found")
            others = [
                i
                for i in identities_of(tr, tenant_id, user_id)
                if (i["provider"], i["subject"]) != (provider, subject)
            ]
            if not others and get_credential(tr, tenant_id, user_id) is None:
                raise Conflict(
                    "this is the account's only way to sign in; set a password first",
                    code="last_sign_in_method",
                )
            tr.clear(record_key)
            tr.clear(INDEXES.key("identity", provider, subject))
            write_audit(
                tr,
                tenant_id,
                self.clock.now(),
                "identity.unlinked",
                {"user_id": user_id, "provider": provider, "subject": subject},
            )

        self.db.transact(write)
