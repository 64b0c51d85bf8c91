"""What every part of the stand-in shares: the object type, the pretend node and timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]

FAULT_ANNOTATION = "standin.coditect.dev/fail"
READY_DELAY_ANNOTATION = "standin.coditect.dev/ready-delay"
NODE_NAME = "standin-node-1"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def strip_kind(obj: Obj) -> Obj:
    # List items from the real server carry no kind/apiVersion.
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
