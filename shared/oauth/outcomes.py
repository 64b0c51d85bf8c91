"""The sign-in callback's transactions: sign in, take back or sign up (with a one-time code), or
link to the owner who asked; each marks the flow's state used in the same transaction.

They return a :class:`Completed` rather than raising, as the store may run them twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.accounts.identities import link_identity, lookup_identity, verify_email_by_oauth
from shared.accounts.records import UserIds
from shared.accounts.users import (
    create_account_without_password,
    email_is_verified,
    get_user,
    lookup_email,
)
from shared.clock import Clock, isoformat
from shared.oauth.codes import CodeGrant, code_key, expiry_key
from shared.oauth.common import Identity
from shared.oauth.cookie import FlowState
from shared.store import Transaction
from shared.store.keys import INDEXES, PROCESSED

SWEEP_LIMIT = 16  # expired codes/states cleared per sign-in: bounded work per transaction


@dataclass(frozen=True)
class Completed:
    """What the callback's transaction did; ``notify`` is the address told of an added method."""

    outcome: str  # "ok" or the refusal's code
    result: str  # signed_in | signed_up | linked | linked_by_owner | already_linked, or detail
    notify: str | None = None


@dataclass(frozen=True)
class SignIn:
    """A verified provider answer to complete: ``grant`` is the one-time code's hash and the
    binding cookie's hash."""

    identity: Identity
    email: str
    state_hash: str
    state_expires_at: float
    grant: tuple[str, str]


def state_key(state_hash: str) -> bytes:
    return PROCESSED.key("oauth_state", state_hash)


def state_used(tr: Transaction, state_hash: str) -> bool:
    return tr.get(state_key(state_hash)) is not None


def complete_sign_in(
    tr: Transaction,
    clock: Clock,
    sign_in: SignIn,
    code_seconds: float,
    taken_back: list[dict[str, Any]] | None = None,
) -> Completed:
    """Sign in / take back / sign up, mark the state used and store the code: one transaction.

    Returns the outcome rather than raising, as the store may run it twice. ``grant`` is the
    one-time code's hash and the binding cookie's hash.
    """
    identity, email, state_hash = sign_in.identity, sign_in.email, sign_in.state_hash
    now = clock.now()
    taken_back = [] if taken_back is None else taken_back
    taken_back.clear()  # this attempt's outcome only (the store may run it again)
    if state_used(tr, state_hash):
        return Completed("state_used", "this sign-in was already completed")
    notify = None
    found = lookup_identity(tr, identity.provider, identity.subject)
    if found is not None:
        result = "signed_in"
        if get_user(tr, found["tenant_id"], found["user_id"]) is None:
            return Completed("account_missing", "the linked account no longer exists")
    else:
        found = lookup_email(tr, email)
        if found is not None:
            result = "linked"
            user = get_user(tr, found["tenant_id"], found["user_id"])
            if user is None:
                return Completed("account_missing", "the account with this email is gone")
            if email_is_verified(user):
                # The owner proved this email already and never asked for this provider:
                # they sign in their usual way and link it from settings (start_link).
                return Completed("account_exists", "sign in with your method, then link")
            # Password sign-up proves nothing about the email: whoever set that password
            # may have registered someone else's address first. The provider has proved
            # ownership, so the account becomes theirs alone (password and sessions go).
            # The owner hears of it once, from the take-back's own notice (on_take_back).
            taken_back.append(
                verify_email_by_oauth(tr, found["tenant_id"], user, now, provider=identity.provider)
            )
        else:
            result = "signed_up"
            user = create_account_without_password(
                tr,
                now,
                email=email,
                first_name=identity.first_name,
                last_name=identity.last_name,
                method=f"oauth:{identity.provider}",
            )
            found = {"user_id": user["user_id"], "tenant_id": user["tenant_id"]}
        _link_identity(tr, found, identity, email, now)
    mark_state_used(tr, state_hash, sign_in.state_expires_at, now)
    code_hash, binding_hash = sign_in.grant
    grant_record = CodeGrant(
        found["user_id"], found["tenant_id"], identity.provider, result, binding_hash
    )
    grant_record.store(tr, code_hash, now + code_seconds)
    return Completed("ok", result, notify)


def complete_link(
    tr: Transaction, clock: Clock, identity: Identity, email: str, flow: FlowState, state_hash: str
) -> Completed:
    """Link the identity to the owner who asked (the state cookie names them), in one
    transaction; no code: the owner's browser is signed in already."""
    now = clock.now()
    if state_used(tr, state_hash):
        return Completed("state_used", "this link was already completed")
    owner: UserIds = {"user_id": flow.link_user_id, "tenant_id": flow.link_tenant_id}
    user = get_user(tr, owner["tenant_id"], owner["user_id"])
    if user is None:
        return Completed("account_missing", "the account asking for the link is gone")
    found = lookup_identity(tr, identity.provider, identity.subject)
    if found is not None and found["user_id"] != owner["user_id"]:
        return Completed("identity_in_use", "that account signs in to another user")
    notify = None
    if found is None:
        _link_identity(tr, owner, identity, email, now)
        notify = user["email"]
    mark_state_used(tr, state_hash, flow.expires_at, now)
    return Completed("ok", "already_linked" if found else "linked_by_owner", notify)


def _link_identity(
    tr: Transaction, ids: UserIds, identity: Identity, email: str, now: float
) -> None:
    link_identity(
        tr,
        ids["tenant_id"],
        ids["user_id"],
        now,
        provider=identity.provider,
        subject=identity.subject,
        email=email,
    )


def mark_state_used(tr: Transaction, state_hash: str, state_expires_at: float, now: float) -> None:
    _sweep(tr, now)
    tr.set(state_key(state_hash), json.dumps({"used_at": isoformat(now)}).encode())
    tr.set(expiry_key(state_expires_at, "state", state_hash), b"")


def _sweep(tr: Transaction, now: float) -> None:
    """Clear a few expired codes and used-state marks (snapshot read: no conflicts)."""
    begin, _ = INDEXES.range("oauth_expiry")
    end = INDEXES.key("oauth_expiry", int(now * 1000))
    for key, _value in tr.get_range(begin, end, limit=SWEEP_LIMIT, snapshot=True):
        _, _, kind, digest = INDEXES.unpack(key)
        tr.clear(key)
        tr.clear(code_key(digest) if kind == "code" else state_key(digest))
