"""The embedded store: SQLite in WAL mode under the data directory, with FoundationDB's semantics.

Transactions are optimistic and serializable, as in FoundationDB: each one reads from a snapshot
taken at its start, buffers its writes (reading its own writes back), and at commit fails with
:class:`NotCommitted` if a transaction that committed after its snapshot wrote a key it read.
``transact`` retries that, so code that is wrong under retries fails here too, not only on the
real cluster. Limits (key, value, transaction size, 5 seconds) are enforced with FDB's errors.

One process owns a data directory at a time (an exclusive lock file says so); commits inside the
process are serialized by a lock, and the conflict check keeps the last few seconds of commits.
"""

from __future__ import annotations

import bisect
import fcntl
import os
import random
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from shared.store import (
    MAX_TRANSACTION_SECONDS,
    MAX_TRANSACTION_SIZE,
    MVCC_WINDOW_SECONDS,
    RETRYABLE,
    NotCommitted,
    RetryLimitReached,
    StoreError,
    TransactionTooLarge,
    TransactionTooOld,
    check_key,
    check_value,
    decode_counter,
    encode_counter,
)

T = TypeVar("T")
Range = tuple[bytes, bytes]


def _key_range(key: bytes) -> Range:
    return key, key + b"\x00"


def _overlaps(a: Range, b: Range) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _in_ranges(key: bytes, ranges: list[Range]) -> bool:
    return any(begin <= key < end for begin, end in ranges)


class EmbeddedTransaction:
    def __init__(
        self,
        db: EmbeddedDatabase,
        conn: sqlite3.Connection,
        read_version: int,
        *,
        pinned: bool = False,
    ) -> None:
        self._db = db
        self._pinned = pinned  # reads a snapshot someone else holds open; read-only
        self._conn = conn
        self._read_version = read_version
        self._started = time.monotonic()
        self._writes: dict[bytes, bytes | None] = {}  # None: cleared
        self._adds: dict[bytes, int] = {}  # atomic adds on keys not otherwise written
        self._cleared: list[Range] = []
        self._read_ranges: list[Range] = []
        self._write_ranges: list[Range] = []
        self._size = 0
        if not pinned:
            # Pin the snapshot now: in WAL mode a read sees the database as of its first read.
            conn.execute("BEGIN")
            conn.execute("SELECT 1 FROM kv LIMIT 1").fetchall()

    # -- bookkeeping ---------------------------------------------------------------------------
    def _check_age(self) -> None:
        if time.monotonic() - self._started > MAX_TRANSACTION_SECONDS:
            raise TransactionTooOld(
                f"transaction ran longer than {MAX_TRANSACTION_SECONDS:g} s (FoundationDB's limit)"
            )

    def _grow(self, nbytes: int) -> None:
        self._size += nbytes
        if self._size > MAX_TRANSACTION_SIZE:
            raise TransactionTooLarge(
                f"transaction is over {MAX_TRANSACTION_SIZE} bytes (FoundationDB's limit)"
            )

    def _note_write(self, rng: Range, nbytes: int) -> None:
        if self._pinned:
            raise StoreError("a snapshot is read-only")
        self._check_age()
        self._write_ranges.append(rng)
        self._grow(nbytes)

    # -- reads -----------------------------------------------------------------------------------
    def _db_get(self, key: bytes) -> bytes | None:
        if _in_ranges(key, self._cleared):
            return None
        row = self._conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        return row[0] if row else None

    def get(self, key: bytes, *, snapshot: bool = False) -> bytes | None:
        check_key(key)
        self._check_age()
        if key in self._writes:
            return self._writes[key]
        if not snapshot:
            self._read_ranges.append(_key_range(key))
            self._grow(len(key))
        value = self._db_get(key)
        if key in self._adds:
            return encode_counter(decode_counter(value) + self._adds[key])
        return value

    def get_range(
        self,
        begin: bytes,
        end: bytes,
        *,
        limit: int = 0,
        reverse: bool = False,
        snapshot: bool = False,
    ) -> list[tuple[bytes, bytes]]:
        self._check_age()
        if begin >= end:
            return []
        if not snapshot:
            self._read_ranges.append((begin, end))
            self._grow(len(begin) + len(end))
        buffered = [k for k in self._writes if begin <= k < end]
        order = "DESC" if reverse else "ASC"
        sql = f"SELECT k, v FROM kv WHERE k >= ? AND k < ? ORDER BY k {order}"  # noqa: S608
        params: tuple[Any, ...] = (begin, end)
        if limit and not self._cleared:
            # Buffered clears may hide rows, so ask for enough to fill the limit anyway.
            sql += " LIMIT ?"
            params = (begin, end, limit + len(buffered))
        rows = {
            k: v for k, v in self._conn.execute(sql, params) if not _in_ranges(k, self._cleared)
        }
        for k in buffered:
            value = self._writes[k]
            if value is None:
                rows.pop(k, None)
            else:
                rows[k] = value
        for k, delta in self._adds.items():
            if begin <= k < end:
                rows[k] = encode_counter(decode_counter(rows.get(k)) + delta)
        items = sorted(rows.items(), reverse=reverse)
        return items[:limit] if limit else items

    # -- writes ----------------------------------------------------------------------------------
    def set(self, key: bytes, value: bytes) -> None:
        check_key(key)
        check_value(value)
        self._note_write(_key_range(key), len(key) + len(value))
        self._writes[key] = value
        self._adds.pop(key, None)

    def clear(self, key: bytes) -> None:
        check_key(key)
        self._note_write(_key_range(key), len(key))
        self._writes[key] = None
        self._adds.pop(key, None)

    def clear_range(self, begin: bytes, end: bytes) -> None:
        if begin >= end:
            return
        self._note_write((begin, end), len(begin) + len(end))
        for k in [k for k in self._writes if begin <= k < end]:
            del self._writes[k]
        for k in [k for k in self._adds if begin <= k < end]:
            del self._adds[k]
        self._cleared.append((begin, end))

    def add(self, key: bytes, delta: int) -> None:
        check_key(key)
        self._note_write(_key_range(key), len(key) + 8)
        if key in self._writes:
            self._writes[key] = encode_counter(decode_counter(self._writes[key]) + delta)
        elif _in_ranges(key, self._cleared):
            self._writes[key] = encode_counter(delta)
        else:
            self._adds[key] = self._adds.get(key, 0) + delta

    # -- commit ----------------------------------------------------------------------------------
    def commit(self) -> None:
        self._check_age()
        self._conn.execute("ROLLBACK")  # leave the snapshot; the write happens under the lock
        if not self._write_ranges:
            return
        self._db._commit(self)

    def close(self) -> None:
        if not self._pinned and self._conn.in_transaction:
            self._conn.execute("ROLLBACK")


class EmbeddedSnapshot:
    """A read version held open: its own SQLite connection inside one read transaction (WAL
    keeps that view while others commit). Like FoundationDB, it is readable for
    ``MVCC_WINDOW_SECONDS`` only."""

    def __init__(self, db: EmbeddedDatabase) -> None:
        self._db = db
        self._conn = sqlite3.connect(db._file, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()  # one reader at a time on the connection
        # Under the commit lock, so the version names exactly the commits this view holds.
        with db._commit_lock:
            self._conn.execute("BEGIN")
            self._conn.execute("SELECT 1 FROM kv LIMIT 1").fetchall()
            self.version = db._version
            self._pinned_at = time.monotonic()

    def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._lock:
            window = self._db.mvcc_window_seconds
            if time.monotonic() - self._pinned_at > window:
                raise TransactionTooOld(f"read version {self.version} is older than {window:g} s")
            return self._db._run_active(
                lambda: fn(
                    EmbeddedTransaction(self._db, self._conn, self.version, pinned=True),
                    *args,
                    **kwargs,
                )
            )

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            except sqlite3.ProgrammingError:
                pass


class EmbeddedDatabase:
    """SQLite-backed store; ``path`` is a data directory (the file is ``store.sqlite3`` in it)."""

    def __init__(self, path: str, *, synchronous: str = "FULL", max_retries: int = 200) -> None:
        os.makedirs(path, exist_ok=True)
        self._file = os.path.join(path, "store.sqlite3")
        self._lock_fd = os.open(os.path.join(path, "store.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise StoreError(f"the data directory {path} is in use by another process") from None
        if synchronous not in {"FULL", "NORMAL"}:
            raise ValueError("synchronous is FULL or NORMAL")
        self._synchronous = synchronous
        self.max_retries = max_retries  # attempts before RetryLimitReached
        self.mvcc_window_seconds = MVCC_WINDOW_SECONDS  # how long a snapshot stays readable
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._commit_lock = threading.Lock()
        self._version = 0
        # (commit version, monotonic time, write ranges) of recent commits, for conflict checks.
        self._recent: deque[tuple[int, float, list[Range]]] = deque()
        self._closed = False
        self._active = 0
        self._active_cond = threading.Condition()
        conn = self._connection()
        conn.execute(
            "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID"
        )

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreError("the store is closed")
            conn = sqlite3.connect(self._file, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA busy_timeout=5000")
            self._local.conn = conn
            with self._commit_lock:
                self._connections.append(conn)
        return conn

    def create_transaction(self) -> EmbeddedTransaction:
        # Read the version before pinning the snapshot: a commit in between can only cause a
        # spurious conflict (retried), never a missed one.
        return EmbeddedTransaction(self, self._connection(), self._version)

    def _commit(self, tr: EmbeddedTransaction) -> None:
        with self._commit_lock:
            now = time.monotonic()
            # Checked again under the lock: the conflict history below only reaches back to the
            # horizon, so a transaction that waited here past its 5 s could miss a conflict.
            if now - tr._started > MAX_TRANSACTION_SECONDS:
                raise TransactionTooOld(
                    f"transaction ran longer than {MAX_TRANSACTION_SECONDS:g} s "
                    "(FoundationDB's limit)"
                )
            horizon = now - MAX_TRANSACTION_SECONDS - 1.0
            while self._recent and self._recent[0][1] < horizon:
                self._recent.popleft()
            start = bisect.bisect_right([v for v, _, _ in self._recent], tr._read_version)
            for i in range(start, len(self._recent)):
                for written in self._recent[i][2]:
                    if any(_overlaps(written, read) for read in tr._read_ranges):
                        raise NotCommitted("a concurrent transaction wrote what this one read")
            conn = tr._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                for begin, end in tr._cleared:
                    conn.execute("DELETE FROM kv WHERE k >= ? AND k < ?", (begin, end))
                for key, value in tr._writes.items():
                    if value is None:
                        conn.execute("DELETE FROM kv WHERE k = ?", (key,))
                    else:
                        conn.execute("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (key, value))
                for key, delta in tr._adds.items():
                    row = conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
                    total = decode_counter(row[0] if row else None) + delta
                    conn.execute(
                        "INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)",
                        (key, encode_counter(total)),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._version += 1
            self._recent.append((self._version, now, tr._write_ranges))

    def snapshot(self) -> EmbeddedSnapshot:
        if self._closed:
            raise StoreError("the store is closed")
        return EmbeddedSnapshot(self)

    def transact(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return self._run_active(lambda: self._transact(fn, *args, **kwargs))

    def _run_active(self, work: Callable[[], T]) -> T:
        """Run ``work`` counted as active, so ``close`` waits for it."""
        with self._active_cond:
            if self._closed:
                raise StoreError("the store is closed")
            self._active += 1
        try:
            return work()
        finally:
            with self._active_cond:
                self._active -= 1
                self._active_cond.notify_all()

    def _transact(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        delay = 0.001
        for _attempt in range(self.max_retries):
            tr = self.create_transaction()
            try:
                result = fn(tr, *args, **kwargs)
                tr.commit()
                return result
            except RETRYABLE:
                # FoundationDB's on_error backs off with jitter before retrying.
                time.sleep(random.uniform(0, delay))
                delay = min(delay * 2, 0.1)
            finally:
                tr.close()
        raise RetryLimitReached(f"transaction conflicted {self.max_retries} times")

    def close(self) -> None:
        # Let running transactions finish: closing a connection under another thread's feet
        # is undefined behaviour in SQLite's Python binding.
        with self._active_cond:
            self._closed = True
            self._active_cond.wait_for(lambda: self._active == 0, timeout=MAX_TRANSACTION_SECONDS)
        with self._commit_lock:
            for conn in self._connections:
                try:
                    conn.close()
                except sqlite3.ProgrammingError:
                    pass
            self._connections.clear()
        self._local = threading.local()
        if self._lock_fd >= 0:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = -1
