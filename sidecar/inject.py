"""Putting the input beacon (``activity.js``) into the IDE's HTML documents.

Only responses to navigations are touched: the request says ``Sec-Fetch-Dest: document`` (or,
from a browser that does not send Fetch metadata, its ``Accept`` names ``text/html``), or
``iframe``/``frame`` (the app's IDE tabs frame the IDE: a framed page is this origin's too, so
its beacon reaches the sidecar with the session cookie; a frame on another origin, such as a
webview host, gets a script whose posts are refused and ignored); the response is
``text/html`` without a content encoding, and its body fits in ``INJECT_MAX_BYTES``. For those
requests the upstream is asked for ``Accept-Encoding: identity`` so the body can be edited.
The tag goes before ``</head>``, else before ``</body>``, else at the end. It is an external
script from this origin, so an upstream CSP allowing ``'self'`` still runs it. Everything else,
and any document too large or encoded anyway, streams through as is.
"""

from __future__ import annotations

from collections.abc import Mapping

SCRIPT_PATH = "/__coditect/activity.js"
# Not deferred: its storage fallback (activity.py) must run before the IDE's own scripts.
SCRIPT_TAG = f'<script src="{SCRIPT_PATH}"></script>'.encode()

# Responses without a body to edit, or whose body is a part of the document.
_NO_BODY = frozenset({204, 206, 304})


def is_document_request(method: str, headers: Mapping[str, str]) -> bool:
    """A top-level navigation: opening or reloading the page (not an iframe, fetch or asset)."""
    if method not in ("GET", "POST"):
        return False
    dest = headers.get("Sec-Fetch-Dest")
    if dest is not None:
        return dest.strip().lower() == "document"
    return "text/html" in headers.get("Accept", "").lower()


def is_frame_request(method: str, headers: Mapping[str, str]) -> bool:
    """Loading a page into a frame (the app's IDE tab): it gets the beacon, but by itself is not
    activity (frames load on their own; the tab's launch already counted)."""
    if method not in ("GET", "POST"):
        return False
    return headers.get("Sec-Fetch-Dest", "").strip().lower() in ("iframe", "frame")


def injectable(method: str, status: int, headers: Mapping[str, str], limit: int) -> bool:
    """Whether a document's response may be buffered (``limit`` bytes at most) and edited."""
    if method == "HEAD" or status < 200 or status in _NO_BODY:
        return False
    mime, _, params = headers.get("Content-Type", "").partition(";")
    if mime.strip().lower() != "text/html":
        return False
    # Our tag is ASCII: fine in any ASCII-compatible charset, wrong in UTF-16/32.
    if "utf-16" in params.lower() or "utf-32" in params.lower():
        return False
    if headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
        return False  # the upstream compressed it anyway: leave it alone
    length = headers.get("Content-Length")
    return not (length is not None and (not length.isdigit() or int(length) > limit))


def inject(body: bytes) -> bytes:
    lowered = body.lower()
    at = lowered.find(b"</head>")
    if at < 0:
        at = lowered.rfind(b"</body>")
    if at < 0:
        return body + SCRIPT_TAG
    return body[:at] + SCRIPT_TAG + body[at:]
