"""Personal API tokens for scripts and command-line clients.

A token is ``cdt_pat_<43 random url-safe characters>``: the prefix lets secret scanners find
leaked ones. It is shown once; the store keeps its SHA-256 only, in
``t/<tid>/api_token/<token_id>`` and the index ``idx/api_token/<sha256>`` -> ids. Checking one
costs a hash and one read transaction; its last-used time is written at most once a minute.
"""

from __future__ import annotations

import secrets as pysecrets
from typing import Any, cast

from shared.accounts.audit import write_audit
from shared.accounts.records import ApiTokenRecord
from shared.accounts.scopes import TokenScope
from shared.accounts.users import get_user
from shared.claims import Claims
from shared.clock import Clock, isoformat
from shared.digests import sha256_hex
from shared.errors import Conflict, NotFound, Unauthorized
from shared.ids import new_id
from shared.settings import Settings
from shared.store import Database, Transaction
from shared.store.codec import dump, load
from shared.store.keys import INDEXES, TENANTS

PREFIX = "cdt_pat_"
SHOWN_PREFIX_LENGTH = len(PREFIX) + 4
MAX_TOKENS_PER_USER = 50
LAST_USED_WRITE_SECONDS = 60


def is_api_token(token: str) -> bool:
    return token.startswith(PREFIX)


def token_key(tenant_id: str, token_id: str) -> bytes:
    return TENANTS[tenant_id].key("api_token", token_id)


def index_key(digest: str) -> bytes:
    return INDEXES.key("api_token", digest)


def user_tokens(tr: Transaction, tenant_id: str, user_id: str) -> list[ApiTokenRecord]:
    rows = tr.get_range(*TENANTS[tenant_id].range("api_token"))
    found = [cast(ApiTokenRecord, load(raw)) for _, raw in rows]
    return [t for t in found if t["user_id"] == user_id]


def public_token(record: ApiTokenRecord) -> dict[str, Any]:
    return {
        "token_id": record["token_id"],
        "name": record["name"],
        "scope": record["scope"],
        "prefix": record["prefix"],
        "created_at": record["created_at"],
        "expires_at": isoformat(record["expires_at"]) if record["expires_at"] else None,
        "last_used_at": isoformat(record["last_used_at"]) if record["last_used_at"] else None,
    }


def revoke_all_tokens(
    tr: Transaction, tenant_id: str, user_id: str, now: float, reason: str
) -> int:
    """Remove every token of the user (record and index), in the caller's transaction."""
    tokens = user_tokens(tr, tenant_id, user_id)
    for record in tokens:
        tr.clear(index_key(record["token_sha256"]))
        tr.clear(token_key(tenant_id, record["token_id"]))
    if tokens:
        write_audit(
            tr,
            tenant_id,
            now,
            "api_token.revoked_all",
            {"user_id": user_id, "reason": reason, "count": len(tokens)},
        )
    return len(tokens)


class ApiTokens:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings

    def create(
        self, claims: Claims, name: str, scope: TokenScope, expires_in_days: int | None
    ) -> dict[str, Any]:
        """A new token: its record, and the secret (returned this once only)."""
        tenant_id, user_id = claims["tid"], claims["sub"]
        secret = PREFIX + pysecrets.token_urlsafe(32)
        digest = sha256_hex(secret)
        token_id = new_id()

        def write(tr: Transaction) -> ApiTokenRecord:
            if get_user(tr, tenant_id, user_id) is None:
                raise Unauthorized("account no longer exists", code="invalid_token")
            mine = user_tokens(tr, tenant_id, user_id)
            if len(mine) >= MAX_TOKENS_PER_USER:
                raise Conflict(
                    f"at most {MAX_TOKENS_PER_USER} tokens; revoke one first",
                    code="too_many_tokens",
                )
            if any(t["name"] == name for t in mine):
                raise Conflict(f"you already have a token named {name!r}", code="name_taken")
            now = self.clock.now()
            record: ApiTokenRecord = {
                "token_id": token_id,
                "user_id": user_id,
                "name": name,
                "scope": scope,
                "token_sha256": digest,
                "prefix": secret[:SHOWN_PREFIX_LENGTH],
                "created_at": isoformat(now),
                "expires_at": now + expires_in_days * 86400 if expires_in_days else None,
                "last_used_at": None,
            }
            tr.set(token_key(tenant_id, token_id), dump(record))
            tr.set(index_key(digest), dump({"tenant_id": tenant_id, "token_id": token_id}))
            write_audit(
                tr,
                tenant_id,
                now,
                "api_token.created",
                {"user_id": user_id, "token_id": token_id, "name": name, "scope": scope},
            )
            return record

        record = self.db.transact(write)
        return {"token": public_token(record), "secret": secret}

    def list(self, claims: Claims) -> list[dict[str, Any]]:
        def read(tr: Transaction) -> list[dict[str, Any]]:
            mine = user_tokens(tr, claims["tid"], claims["sub"])
            mine.sort(key=lambda t: (t["created_at"], t["token_id"]))
            return [public_token(t) for t in mine]

        return self.db.transact(read)

    def revoke(self, claims: Claims, token_id: str) -> None:
        tenant_id, user_id = claims["tid"], claims["sub"]

        def write(tr: Transaction) -> bool:
            record = cast(ApiTokenRecord | None, load(tr.get(token_key(tenant_id, token_id))))
            if record is None or record["user_id"] != user_id:
                return False
            tr.clear(index_key(record["token_sha256"]))
            tr.clear(token_key(tenant_id, token_id))
            write_audit(
                tr,
                tenant_id,
                self.clock.now(),
                "api_token.revoked",
                {"user_id": user_id, "token_id": token_id, "name": record["name"]},
            )
            return True

        if not self.db.transact(write):
            raise NotFound("no such token", code="token_not_found")

    def authenticate(self, secret: str) -> Claims:
        """Claims for a valid token (``typ`` ``pat``, its ``scope``); 401 otherwise."""
        digest = sha256_hex(secret)
        invalid = Unauthorized("invalid token", code="invalid_token")

        def check(tr: Transaction) -> tuple[str, ApiTokenRecord] | None:
            ids = load(tr.get(index_key(digest), snapshot=True))
            if ids is None:
                return None
            key = token_key(ids["tenant_id"], ids["token_id"])
            record = cast(ApiTokenRecord | None, load(tr.get(key, snapshot=True)))
            if record is None or record["token_sha256"] != digest:
                return None
            now = self.clock.now()
            if record["expires_at"] is not None and record["expires_at"] <= now:
                raise Unauthorized("token expired", code="token_expired")
            if (record["last_used_at"] or 0) + LAST_USED_WRITE_SECONDS <= now:
                # Once a minute at most: a busy script does not write on every call.
                tr.set(key, dump({**record, "last_used_at": now}))
            return ids["tenant_id"], record

        found = self.db.transact(check)
        if found is None:
            raise invalid
        tenant_id, record = found
        expires = record["expires_at"]
        return {
            "iss": self.settings.issuer,
            "aud": self.settings.api_audience,
            "sub": record["user_id"],
            "tid": tenant_id,
            "typ": "pat",
            "iat": int(self.clock.now()),
            "exp": int(expires) if expires else 2**31 - 1,
            "jti": record["token_id"],
            "scope": record["scope"],
        }
