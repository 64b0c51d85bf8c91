"""Who is calling: the client address and User-Agent of the request being served.

Set by the HTTP handlers that start or use a sign-in session (``remember_client``) and read where
the session record is written, so the account services need no request object.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

USER_AGENT_MAX = 200


@dataclass(frozen=True)
class ClientInfo:
    address: str
    user_agent: str


_current: contextvars.ContextVar[ClientInfo | None] = contextvars.ContextVar(
    "coditect_client", default=None
)


def client_of(request: Any) -> ClientInfo:
    """The caller's address and User-Agent.

    Behind Google's load balancer ``X-Forwarded-For`` ends with ``<client>, <load balancer>``
    (anything before was sent by the client and proves nothing), so the second-to-last entry is
    the client; without the header (the local stack) the peer address is.
    """
    forwarded = [p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",")]
    forwarded = [p for p in forwarded if p]
    address = forwarded[-2] if len(forwarded) >= 2 else (request.remote_addr or "unknown")
    agent = request.headers.get("User-Agent", "")[:USER_AGENT_MAX]
    return ClientInfo(address[:64], agent)


def remember_client(request: Any) -> ClientInfo:
    info = client_of(request)
    _current.set(info)
    return info


def current_client() -> ClientInfo | None:
    return _current.get()
