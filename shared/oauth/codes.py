"""The one-time code the app exchanges for tokens, bound to the browser that started sign-in.

The callback stores the code's SHA-256 with the account it signs in to and the SHA-256 of the
browser's binding cookie (set at /start). ``POST /api/auth/oauth/exchange`` needs both the code
and that cookie: a code carried to another browser (a link with an attacker's ``?oauth_code=``,
which would sign the victim into the attacker's account) is refused there.

A code presented with a missing or different binding is consumed as it is refused. The browser
that got it exchanges it at once on landing, so a code seen elsewhere has leaked; burning it
means it can never be used later, even by someone who also gets hold of the binding. The only
cost is that whoever holds a leaked code can cancel that one sign-in, which a retry undoes.
"""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any

from shared.accounts.audit import write_audit
from shared.accounts.records import UserRecord
from shared.accounts.service import AccountService, SessionTokens
from shared.accounts.users import get_user
from shared.clock import Clock
from shared.digests import sha256_hex
from shared.errors import BadRequest
from shared.store import Database, Transaction
from shared.store.keys import INDEXES

log = logging.getLogger("coditect.oauth")


def code_key(code_hash: str) -> bytes:
    return INDEXES.key("oauth_code", code_hash)


def expiry_key(expires_at: float, kind: str, digest: str) -> bytes:
    return INDEXES.key("oauth_expiry", int(expires_at * 1000), kind, digest)


@dataclass(frozen=True)
class CodeGrant:
    """What a stored code signs in to (written by the callback's transaction)."""

    user_id: str
    tenant_id: str
    provider: str
    result: str
    binding_hash: str

    def store(self, tr: Transaction, code_hash: str, expires_at: float) -> None:
        record = {
            "user_id": self.user_id,
            "tenant_id": self.tenant_id,
            "provider": self.provider,
            "result": self.result,
            "binding_sha256": self.binding_hash,
            "expires_at": expires_at,
        }
        tr.set(code_key(code_hash), json.dumps(record).encode())
        tr.set(expiry_key(expires_at, "code", code_hash), b"")


def _bound(record: dict[str, Any], binding: str | None) -> bool:
    stored = record.get("binding_sha256")
    if not isinstance(stored, str) or not stored or not binding:
        return False
    return hmac.compare_digest(stored, sha256_hex(binding))


def exchange_code(
    db: Database, clock: Clock, accounts: AccountService, code: str, binding: str | None
) -> tuple[UserRecord, SessionTokens, dict[str, str]]:
    """Tokens for a valid code presented by the browser it is bound to (400 otherwise)."""
    code_hash = sha256_hex(code)

    def consume(tr: Transaction) -> tuple[str, Any]:
        raw = tr.get(code_key(code_hash))
        if raw is None:
            return "invalid", None
        record = json.loads(raw)
        now = clock.now()
        if record["expires_at"] <= now:
            return "expired", None  # left for the sweep: a bad case writes nothing
        tr.clear(code_key(code_hash))
        tr.clear(expiry_key(record["expires_at"], "code", code_hash))
        if not _bound(record, binding):
            return "unbound", record["provider"]  # consumed: see the module's docstring
        user = get_user(tr, record["tenant_id"], record["user_id"])
        if user is None:
            return "invalid", None
        method = f"oauth:{record['provider']}"
        write_audit(
            tr,
            record["tenant_id"],
            now,
            "user.login",
            {"user_id": user["user_id"], "method": method},
        )
        tokens = accounts.start_session(tr, user["user_id"], record["tenant_id"], now, method)
        return "ok", (user, tokens, {"provider": record["provider"], "result": record["result"]})

    outcome, value = db.transact(consume)
    if outcome == "expired":
        raise BadRequest("the sign-in code has expired; sign in again", code="code_expired")
    if outcome == "unbound":
        log.warning(
            "oauth code presented by another browser; refused and consumed",
            extra={"fields": {"provider": value, "binding_cookie": binding is not None}},
        )
        raise BadRequest(
            "this sign-in was started in another browser; sign in again here",
            code="code_binding_mismatch",
        )
    if outcome != "ok":
        raise BadRequest("the sign-in code is invalid or already used", code="invalid_code")
    result: tuple[UserRecord, SessionTokens, dict[str, str]] = value
    return result
