"""Workspace LLM keys: one per workspace, scoped to it and its owner, revocable, stored hashed.

A key is ``cdt_llm_<key id>_<HMAC-SHA256(derivation secret, key id)>``. The store keeps only its
SHA-256 (under the tenant, with a global index hash -> ids), so reading the store alone never
yields a usable key; the provisioner re-derives the key from the key id and the derivation secret
(Secret Manager) when it writes Theia's settings. Issuing again replaces (rotates) the key.

Records: ``t/<tid>/llm_key/<uid>/<wid>`` ``{key_id, key_sha256, created_at}`` and
``idx/llm_key/<sha256>`` ``{tenant_id, user_id, workspace_id}``, written and cleared together.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from shared.secret_names import LLM_KEY_DERIVATION_SECRET
from shared.secrets import SecretsPort
from shared.store import Transaction
from shared.store.keys import INDEXES, TENANTS

PREFIX = "cdt_llm_"
PLATFORM_TOKEN_HINT = "eyJ"  # a JWT's first bytes: platform access tokens are refused by name


@dataclass(frozen=True)
class KeyOwner:
    tenant_id: str
    user_id: str
    workspace_id: str


def _record_key(tenant_id: str, user_id: str, workspace_id: str) -> bytes:
    return TENANTS[tenant_id].key("llm_key", user_id, workspace_id)


def _index_key(key_sha256: str) -> bytes:
    return INDEXES.key("llm_key", key_sha256)


def key_sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def derive_key(derivation_secret: bytes, key_id: str) -> str:
    mac = hmac.new(derivation_secret, key_id.encode(), hashlib.sha256).digest()
    return f"{PREFIX}{key_id}_{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def derivation_secret(port: SecretsPort, *, generate_if_missing: bool) -> bytes:
    """The derivation secret; the local stack makes one on first use (production never does)."""
    found = port.versions(LLM_KEY_DERIVATION_SECRET, 1)
    if found:
        return found[0]
    if not generate_if_missing:
        raise LookupError(f"secret {LLM_KEY_DERIVATION_SECRET!r} has no version")
    port.add_version(  # type: ignore[attr-defined]
        LLM_KEY_DERIVATION_SECRET, secrets.token_bytes(32)
    )
    return port.versions(LLM_KEY_DERIVATION_SECRET, 1, fresh=True)[0]


def _load(raw: bytes | None) -> dict[str, Any] | None:
    return json.loads(raw) if raw is not None else None


def issue_workspace_key(
    tr: Transaction,
    derivation_secret: bytes,
    tenant_id: str,
    user_id: str,
    workspace_id: str,
    now: float,
) -> str:
    """A new key for the workspace (the previous one, if any, stops working in the same commit)."""
    revoke_workspace_key(tr, tenant_id, user_id, workspace_id)
    key_id = secrets.token_hex(12)
    key = derive_key(derivation_secret, key_id)
    digest = key_sha256(key)
    record = {"key_id": key_id, "key_sha256": digest, "created_at": now}
    tr.set(_record_key(tenant_id, user_id, workspace_id), json.dumps(record).encode())
    ids = {"tenant_id": tenant_id, "user_id": user_id, "workspace_id": workspace_id}
    tr.set(_index_key(digest), json.dumps(ids).encode())
    return key


def workspace_key(
    tr: Transaction, derivation_secret: bytes, tenant_id: str, user_id: str, workspace_id: str
) -> str | None:
    """The workspace's current key (for the provisioner's Theia settings); None once revoked."""
    record = _load(tr.get(_record_key(tenant_id, user_id, workspace_id)))
    if record is None:
        return None
    return derive_key(derivation_secret, record["key_id"])


def revoke_workspace_key(tr: Transaction, tenant_id: str, user_id: str, workspace_id: str) -> bool:
    """Remove the workspace's key and its index entry; False when it had none (idempotent)."""
    record = _load(tr.get(_record_key(tenant_id, user_id, workspace_id)))
    if record is None:
        return False
    tr.clear(_index_key(record["key_sha256"]))
    tr.clear(_record_key(tenant_id, user_id, workspace_id))
    return True


def looks_like_key(presented: str) -> bool:
    return presented.startswith(PREFIX) and 20 < len(presented) < 200


def lookup_key(tr: Transaction, presented: str) -> KeyOwner | None:
    """Who a presented key belongs to, or None (unknown, revoked, or replaced)."""
    if not looks_like_key(presented):
        return None
    digest = key_sha256(presented)
    ids = _load(tr.get(_index_key(digest)))
    if ids is None:
        return None
    owner = KeyOwner(ids["tenant_id"], ids["user_id"], ids["workspace_id"])
    record = _load(tr.get(_record_key(owner.tenant_id, owner.user_id, owner.workspace_id)))
    # The record under the tenant is the authority: an index entry left behind grants nothing.
    if record is None or not hmac.compare_digest(record["key_sha256"], digest):
        return None
    return owner
