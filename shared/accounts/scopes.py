"""What a personal API token may do.

A route names the scope it needs; an access token (a browser sign-in) holds every scope, a
personal API token only what it was created with. ``account`` (sessions, passwords, tokens,
deletion, connected accounts) is never a token's: a leaked script token cannot take the account.
"""

from __future__ import annotations

from typing import Literal

from shared.claims import Claims
from shared.errors import Forbidden

Scope = Literal["account", "read", "workspaces", "llm"]
TokenScope = Literal["read", "workspaces", "llm"]

# What each token scope grants: "workspaces" is read + write of workspaces.
GRANTS: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "workspaces": frozenset({"read", "workspaces"}),
    "llm": frozenset({"llm"}),
}


def require_scope(claims: Claims, needed: Scope) -> None:
    scope = claims.get("scope")
    if scope is None:
        return  # an access token: the signed-in user themself
    if needed not in GRANTS.get(scope, frozenset()):
        raise Forbidden(
            f"this token's scope ({scope}) does not allow this; it needs {needed}",
            code="insufficient_scope",
        )
