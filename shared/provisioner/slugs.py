"""Kubernetes object names from immutable ids, DNS-safe (after kubespawner's slugs.py).

Names never come from emails or workspace names (those change); ids are already lowercase hex,
so the common case is the id itself. Anything else is lowercased, reduced to ``[a-z0-9-]`` and,
when that changed it or it is too long, suffixed with a short hash of the original, so two
different ids never map to the same name.
"""

from __future__ import annotations

import hashlib
import re

DNS_LABEL_MAX = 63
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_INVALID = re.compile(r"[^a-z0-9-]+")
HASH_LENGTH = 8


def is_dns_label(value: str) -> bool:
    return len(value) <= DNS_LABEL_MAX and bool(_LABEL.match(value))


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:HASH_LENGTH]


def safe_slug(value: str, max_length: int = 40) -> str:
    """A DNS-label-safe piece of a name; stable and collision-safe for any input."""
    if not value:
        raise ValueError("an id is required")
    if len(value) <= max_length and _LABEL.match(value):
        return value
    cleaned = _INVALID.sub("-", value.lower()).strip("-")
    cleaned = re.sub(r"-{2,}", "-", cleaned)
    keep = max_length - HASH_LENGTH - 3
    cleaned = cleaned[:keep].rstrip("-") or "x"
    return f"{cleaned}---{_hash(value)}"


def user_namespace(user_id: str) -> str:
    return f"u-{safe_slug(user_id)}"


def workspace_slug(workspace_id: str) -> str:
    """Names the workspace's objects and its host; starts with a letter (Service names must)."""
    return f"ws-{safe_slug(workspace_id)}"


def label_value(value: str) -> str:
    """Label values are at most 63 characters of ``[A-Za-z0-9._-]``; ids fit as they are."""
    if len(value) <= DNS_LABEL_MAX and re.match(
        r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$", value
    ):
        return value
    return safe_slug(value, DNS_LABEL_MAX)
