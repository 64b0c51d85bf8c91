"""A transactional ordered key-value store modelled on FoundationDB.

Two backends implement it: :mod:`shared.store.fdb_backend` (FoundationDB through the ``fdb``
bindings) and :mod:`shared.store.embedded` (SQLite, durable, nothing to install). Both enforce
FoundationDB's limits so code that passes locally does not break on the real cluster.

Operations are written as ``def op(tr: Transaction, ...)`` and run with ``db.transact(op, ...)``;
they compose (one op may call another with the same ``tr``) and may run more than once, so they
must not have side effects outside the transaction.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

# FoundationDB's documented limits (https://apple.github.io/foundationdb/known-limitations.html).
MAX_KEY_SIZE = 10_000
MAX_VALUE_SIZE = 100_000
MAX_TRANSACTION_SIZE = 10_000_000
MAX_TRANSACTION_SECONDS = 5.0
# How long a read version stays readable (FDB keeps ~5 s of versions, MAX_READ_TRANSACTION_LIFE).
MVCC_WINDOW_SECONDS = 5.0


class StoreError(Exception):
    """Base class of store errors; ``code`` mirrors FoundationDB's error code."""

    code = 0


class NotCommitted(StoreError):
    """Another transaction wrote what this one read (FDB 1020); retried by ``transact``."""

    code = 1020


class TransactionTooOld(StoreError):
    """The transaction ran longer than 5 seconds (FDB 1007); retried by ``transact``."""

    code = 1007


class TransactionTimedOut(StoreError):
    """FoundationDB gave up on the transaction after its total time budget, retries included
    (FDB 1031). Not retried: the cluster is unreachable or the work is too slow to ever commit."""

    code = 1031


class KeyTooLarge(StoreError):
    code = 2102


class ValueTooLarge(StoreError):
    code = 2103


class TransactionTooLarge(StoreError):
    code = 2101


class RetryLimitReached(StoreError):
    """A transaction kept conflicting; raised instead of looping forever."""


RETRYABLE = (NotCommitted, TransactionTooOld)


class Transaction(Protocol):
    def get(self, key: bytes, *, snapshot: bool = False) -> bytes | None: ...

    def get_range(
        self,
        begin: bytes,
        end: bytes,
        *,
        limit: int = 0,
        reverse: bool = False,
        snapshot: bool = False,
    ) -> list[tuple[bytes, bytes]]: ...

    def set(self, key: bytes, value: bytes) -> None: ...

    def clear(self, key: bytes) -> None: ...

    def clear_range(self, begin: bytes, end: bytes) -> None: ...

    def add(self, key: bytes, delta: int) -> None:
        """Atomic add of a little-endian int64, like FoundationDB's ADD: adds no read conflict."""
        ...


class Snapshot(Protocol):
    """One read version, read by as many short read-only transactions as needed.

    On FoundationDB each ``read`` is a new transaction given the same version
    (``set_read_version``); the embedded store keeps its SQLite snapshot open. Either way a
    version older than :data:`MVCC_WINDOW_SECONDS` is gone: ``read`` raises
    :class:`TransactionTooOld` and the caller starts again from a new snapshot.
    """

    version: int

    def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(tr, *args, **kwargs)`` at ``version``; nothing it writes is committed."""
        ...

    def close(self) -> None: ...


class Database(Protocol):
    max_retries: int  # attempts of one transaction before RetryLimitReached

    def snapshot(self) -> Snapshot:
        """Pin the current read version for consistent reads across transactions."""
        ...

    def transact(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(tr, *args, **kwargs)`` in a transaction, retrying on conflict."""
        ...

    def close(self) -> None: ...


def encode_counter(value: int) -> bytes:
    return struct.pack("<q", value)


def decode_counter(raw: bytes | None) -> int:
    if not raw:
        return 0
    return struct.unpack("<q", raw.ljust(8, b"\0")[:8])[0]


def check_key(key: bytes) -> None:
    if not isinstance(key, bytes):
        raise TypeError("keys are bytes")
    if len(key) > MAX_KEY_SIZE:
        raise KeyTooLarge(f"key is {len(key)} bytes; the limit is {MAX_KEY_SIZE}")


def check_value(value: bytes) -> None:
    if not isinstance(value, bytes):
        raise TypeError("values are bytes")
    if len(value) > MAX_VALUE_SIZE:
        raise ValueTooLarge(f"value is {len(value)} bytes; the limit is {MAX_VALUE_SIZE}")


def open_database(data_dir: str, cluster_file: str | None) -> Database:
    """FoundationDB when a cluster file is configured, otherwise the embedded store."""
    if cluster_file:
        from shared.store.fdb_backend import FdbDatabase

        return FdbDatabase(cluster_file)
    from shared.store.embedded import EmbeddedDatabase

    return EmbeddedDatabase(data_dir)
