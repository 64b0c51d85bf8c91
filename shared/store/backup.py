"""Dump the store to a file at one read version, and restore such a file into an empty store.

The dump is streamed: rows are read in chunks, each chunk in its own short read-only transaction
at the same read version (:meth:`Database.snapshot`), so it stays inside FoundationDB's 5-second
and size limits and still sees one consistent state. A read version stays readable for about
five seconds only; when the dump outlives it, it starts again from a new version (a store too
big to dump in that window is backed up by FoundationDB's own backup agents, see
docs/runbooks/foundationdb-restore.md).

File format (gzip, text lines): a JSON header, one ``<base64 key> <base64 value>`` line per row in
key order, and a JSON trailer with the row count and the SHA-256 of the row lines. Restore checks
the whole file against its trailer before writing anything, then writes it in transactions of at
most ``chunk_bytes``; the first of them also checks, in the same transaction, that the store is
empty.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypedDict

from shared.clock import SystemClock, isoformat
from shared.store import Database, Transaction, TransactionTooOld

log = logging.getLogger("coditect.backup")

FORMAT = "coditect-store-dump"
FORMAT_VERSION = 1
# The user keyspace: FoundationDB keeps its own system keys at 0xff and above.
KEYSPACE = (b"", b"\xff")
CHUNK_ROWS = 500
# Well under FoundationDB's 10 MB transaction limit (a chunk of restore is one transaction).
CHUNK_BYTES = 1_000_000
DUMP_ATTEMPTS = 5


class BackupError(Exception):
    """A dump or restore that cannot go on; nothing was written by a refused restore."""


class DumpInvalid(BackupError):
    pass


class StoreNotEmpty(BackupError):
    pass


class DumpHeader(TypedDict):
    format: str
    format_version: int
    read_version: int
    created_at: str


class DumpTrailer(TypedDict):
    end: bool
    rows: int
    sha256: str


@dataclass(frozen=True)
class DumpSummary:
    path: str
    read_version: int
    rows: int
    chunks: int
    attempts: int  # 1 unless a read version aged out and the dump started again
    bytes_written: int


@dataclass(frozen=True)
class RestoreSummary:
    rows: int
    transactions: int
    read_version: int  # the version the dump was taken at


def _read_chunk(tr: Transaction, begin: bytes, limit: int) -> list[tuple[bytes, bytes]]:
    return tr.get_range(begin, KEYSPACE[1], limit=limit, snapshot=True)


def _dump_once(db: Database, path: str, chunk_rows: int) -> tuple[int, int, int]:
    snapshot = db.snapshot()
    digest = hashlib.sha256()
    rows = chunks = 0
    try:
        with gzip.open(path, "wb") as out:
            header: DumpHeader = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "read_version": snapshot.version,
                "created_at": isoformat(SystemClock().now()),
            }
            out.write(json.dumps(header).encode() + b"\n")
            begin = KEYSPACE[0]
            while True:
                batch = snapshot.read(_read_chunk, begin, chunk_rows)
                chunks += 1
                for key, value in batch:
                    line = base64.b64encode(key) + b" " + base64.b64encode(value) + b"\n"
                    digest.update(line)
                    out.write(line)
                rows += len(batch)
                if len(batch) < chunk_rows:
                    break
                begin = batch[-1][0] + b"\x00"  # the first key after the last one read
            trailer: DumpTrailer = {"end": True, "rows": rows, "sha256": digest.hexdigest()}
            out.write(json.dumps(trailer).encode() + b"\n")
    finally:
        snapshot.close()
    return snapshot.version, rows, chunks


def dump_store(
    db: Database, path: str, *, chunk_rows: int = CHUNK_ROWS, attempts: int = DUMP_ATTEMPTS
) -> DumpSummary:
    """Write every row of the store at one read version to ``path`` (replaced only when done)."""
    partial = f"{path}.partial"
    for attempt in range(1, attempts + 1):
        try:
            version, rows, chunks = _dump_once(db, partial, chunk_rows)
        except TransactionTooOld:
            log.warning("dump outlived its read version; starting again", extra={"fields": {}})
            continue
        except BaseException:
            if os.path.exists(partial):
                os.remove(partial)
            raise
        os.replace(partial, path)
        return DumpSummary(path, version, rows, chunks, attempt, os.path.getsize(path))
    if os.path.exists(partial):
        os.remove(partial)
    raise BackupError(
        f"the dump took longer than a read version lives in {attempts} attempts; "
        "back this store up with FoundationDB's backup agents instead"
    )


def _rows(fh: Iterable[bytes]) -> Iterator[tuple[bytes, bytes] | DumpTrailer]:
    for line in fh:
        if line.startswith(b"{"):
            yield json.loads(line)
            return
        key, _, value = line.rstrip(b"\n").partition(b" ")
        yield base64.b64decode(key, validate=True), base64.b64decode(value, validate=True)


def read_header(path: str) -> DumpHeader:
    try:
        with gzip.open(path, "rb") as fh:
            header: DumpHeader = json.loads(fh.readline())
    except (OSError, ValueError) as error:
        raise DumpInvalid(f"{path} is not a store dump: {error}") from None
    if header.get("format") != FORMAT or header.get("format_version") != FORMAT_VERSION:
        raise DumpInvalid(f"{path} is not a {FORMAT} version {FORMAT_VERSION} file")
    return header


def verify_dump(path: str) -> tuple[DumpHeader, int]:
    """The header and row count of a complete, intact dump; :class:`DumpInvalid` otherwise."""
    header = read_header(path)
    digest = hashlib.sha256()
    rows = 0
    try:
        with gzip.open(path, "rb") as fh:
            fh.readline()
            for line in fh:
                if line.startswith(b"{"):
                    trailer: DumpTrailer = json.loads(line)
                    if fh.readline():
                        raise DumpInvalid("data after the trailer")
                    break
                key, sep, value = line.rstrip(b"\n").partition(b" ")
                base64.b64decode(key, validate=True)
                base64.b64decode(value, validate=True)
                if not sep:
                    raise DumpInvalid(f"row {rows + 1} is malformed")
                digest.update(line)
                rows += 1
            else:
                raise DumpInvalid("the dump is truncated (no trailer)")
    except (OSError, ValueError, EOFError) as error:
        raise DumpInvalid(f"{path} is damaged: {error}") from None
    if trailer.get("rows") != rows or trailer.get("sha256") != digest.hexdigest():
        raise DumpInvalid("the dump's rows do not match its trailer")
    return header, rows


def _write_batch(tr: Transaction, batch: list[tuple[bytes, bytes]], first: bool) -> None:
    if first and tr.get_range(*KEYSPACE, limit=1):
        raise StoreNotEmpty("the store is not empty; restore only into an empty store")
    for key, value in batch:
        tr.set(key, value)


def restore_store(db: Database, path: str, *, chunk_bytes: int = CHUNK_BYTES) -> RestoreSummary:
    """Write a verified dump into an empty store; refuses (nothing written) otherwise."""
    header, _ = verify_dump(path)
    rows = transactions = 0
    batch: list[tuple[bytes, bytes]] = []
    size = 0
    with gzip.open(path, "rb") as fh:
        fh.readline()
        for item in _rows(fh):
            if isinstance(item, dict):
                break
            batch.append(item)
            size += len(item[0]) + len(item[1])
            if size >= chunk_bytes or len(batch) >= CHUNK_ROWS * 4:
                db.transact(_write_batch, batch, transactions == 0)
                rows, transactions = rows + len(batch), transactions + 1
                batch, size = [], 0
    if batch or transactions == 0:
        db.transact(_write_batch, batch, transactions == 0)
        rows, transactions = rows + len(batch), transactions + 1
    return RestoreSummary(rows, transactions, header["read_version"])
