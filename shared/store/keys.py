"""Key layout: tuples (FoundationDB's tuple layer) under named subspaces.

Every record a tenant owns lives under ``("t", tenant_id, ...)``; global indexes hold ids only.
The full layout is written down in docs/data-model.md.
"""

from __future__ import annotations

from typing import Any

import fdb.tuple as fdb_tuple


class Subspace:
    """A key prefix; ``sub.key(a, b)`` packs ``prefix + (a, b)`` with the tuple layer."""

    def __init__(self, prefix: tuple[Any, ...]) -> None:
        self.prefix = prefix
        self._raw = fdb_tuple.pack(prefix)

    def __getitem__(self, item: Any) -> Subspace:
        return Subspace((*self.prefix, item))

    def key(self, *parts: Any) -> bytes:
        return self._raw + fdb_tuple.pack(parts)

    def unpack(self, key: bytes) -> tuple[Any, ...]:
        if not key.startswith(self._raw):
            raise ValueError("key is not in this subspace")
        return fdb_tuple.unpack(key[len(self._raw) :])

    def range(self, *parts: Any) -> tuple[bytes, bytes]:
        """Every key strictly inside ``prefix + parts``."""
        rng = fdb_tuple.range((*self.prefix, *parts))
        return rng.start, rng.stop


TENANTS = Subspace(("t",))  # ("t", tenant_id, <record kind>, ...)
INDEXES = Subspace(("idx",))  # global indexes: ids only
THROTTLE = Subspace(("thr",))  # rate-limit counters keyed by hashes
PROCESSED = Subspace(("done",))  # ids of messages/events already handled (idempotency)
