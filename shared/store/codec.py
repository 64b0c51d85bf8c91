"""How records are stored: compact JSON, the one codec every area uses."""

from __future__ import annotations

import json
from typing import Any


def dump(record: Any) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def load(raw: bytes | None) -> Any:
    """The record, or ``None`` for a missing key."""
    return json.loads(raw) if raw is not None else None
