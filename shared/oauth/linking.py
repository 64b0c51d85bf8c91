"""Linking a Google/GitHub identity to the signed-in account ("link" intent of the sign-in flow).

``POST /api/auth/connections/{provider}/link`` starts the usual flow (state cookie, PKCE, nonce)
and records, under the state's hash, who asked: ``idx/oauth_link/<sha256(state)>`` -> ids and
expiry. The callback that brings that state back links the identity to that user instead of
signing anyone in: the cookie proves it is the browser that asked, the record says for whom.
"""

from __future__ import annotations

import json
from typing import TypedDict

from shared.accounts.identities import link_identity, lookup_identity
from shared.accounts.users import get_user
from shared.clock import isoformat
from shared.oauth.common import Identity
from shared.store import Transaction
from shared.store.keys import INDEXES


class LinkIntent(TypedDict):
    user_id: str
    tenant_id: str
    expires_at: float


def intent_key(state_hash: str) -> bytes:
    return INDEXES.key("oauth_link", state_hash)


def put_link_intent(
    tr: Transaction, state_hash: str, user_id: str, tenant_id: str, expires_at: float
) -> None:
    intent: LinkIntent = {"user_id": user_id, "tenant_id": tenant_id, "expires_at": expires_at}
    tr.set(intent_key(state_hash), json.dumps(intent).encode())


def get_link_intent(tr: Transaction, state_hash: str) -> LinkIntent | None:
    raw = tr.get(intent_key(state_hash))
    return LinkIntent(**json.loads(raw)) if raw else None  # type: ignore[typeddict-item]


def complete_link(
    tr: Transaction, state_hash: str, state_key: bytes, identity: Identity, email: str, now: float
) -> tuple[str, str]:
    """Link ``identity`` to the user who asked; ``(outcome, detail)`` as the callback's."""
    intent = get_link_intent(tr, state_hash)
    if intent is None or tr.get(state_key) is not None:
        return "state_used", "this link was already completed"
    if intent["expires_at"] <= now:
        return "state_expired", "the link request expired"
    tenant_id, user_id = intent["tenant_id"], intent["user_id"]
    if get_user(tr, tenant_id, user_id) is None:
        return "account_missing", "the account no longer exists"
    owner = lookup_identity(tr, identity.provider, identity.subject)
    if owner is not None and owner["user_id"] != user_id:
        return "identity_in_use", "this identity signs in to another account"
    tr.clear(intent_key(state_hash))
    tr.set(state_key, json.dumps({"used_at": isoformat(now)}).encode())
    if owner is None:
        link_identity(
            tr,
            tenant_id,
            user_id,
            now,
            provider=identity.provider,
            subject=identity.subject,
            email=email,
        )
        return "ok", "linked"
    return "ok", "already_linked"
