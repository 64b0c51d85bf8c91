"""Digests stored in place of secrets (tokens, codes, emails in keys)."""

from __future__ import annotations

import hashlib


def sha256_hex(value: str | bytes) -> str:
    data = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(data).hexdigest()
