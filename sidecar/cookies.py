"""Cookies on the workspace host: the sidecar's session cookie and the IDE's own.

The IDE runs top-level on its own site and inside the app's IDE tabs, a cross-site iframe. There
a browser sends only ``SameSite=None`` cookies, and only those stored in the partition of the
framing site (``Partitioned``, CHIPS). So every cookie on this host is ``Secure; SameSite=None;
Partitioned``: the session cookie as we set it, and the IDE's cookies (Theia's
``theia-connection-token`` is ``SameSite=Strict``) rewritten on the way out. What SameSite did for
them, the guard does for every request (see guard.py): a cookie-authenticated request from
another site is refused unless it is a GET/HEAD navigation.
"""

from __future__ import annotations

from aiohttp import web

SESSION_ATTRIBUTES = "Path=/; Secure; HttpOnly; SameSite=None; Partitioned"
# Attributes the rewrite sets itself; everything else the IDE sent is kept.
_REPLACED = frozenset({"samesite", "secure", "partitioned"})


def set_session_cookie(resp: web.StreamResponse, name: str, value: str, max_age: int) -> None:
    resp.headers.add("Set-Cookie", f"{name}={value}; Max-Age={max_age}; {SESSION_ATTRIBUTES}")


def clear_session_cookie(resp: web.StreamResponse, name: str) -> None:
    # Same attributes (and so the same partition) as the cookie it removes.
    resp.headers.add("Set-Cookie", f"{name}=; Max-Age=0; {SESSION_ATTRIBUTES}")


def rewrite_upstream_cookie(header: str, session_cookie: str) -> str | None:
    """The IDE's ``Set-Cookie`` as it may reach the browser, or None to drop it.

    Dropped: a ``Domain`` attribute (it would reach other hosts under that domain, e.g. other
    workspaces) and any attempt to set our session cookie. Kept: name, value, ``Path``,
    ``Expires``/``Max-Age``, ``HttpOnly``. Set: ``Secure; SameSite=None; Partitioned``.
    """
    first, _, rest = header.partition(";")
    name = first.partition("=")[0].strip()
    if not name or name == session_cookie or name.lower().startswith("__host-coditect"):
        return None
    kept = [first.strip()]
    for attribute in rest.split(";"):
        attribute = attribute.strip()
        key = attribute.partition("=")[0].strip().lower()
        if key == "domain":
            return None
        if attribute and key not in _REPLACED:
            kept.append(attribute)
    kept.append("Secure; SameSite=None; Partitioned")
    return "; ".join(kept)
