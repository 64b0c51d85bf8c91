"""The production store: FoundationDB through the ``fdb`` bindings (API version 730).

``fdb`` needs the ``libfdb_c`` client library, which the function runtime gets from the build (see
the README's deploy section); it is imported only when a cluster file is configured.

The retry loop is the one ``@fdb.transactional`` runs (``fn``, commit, ``on_error`` on an
``FDBError``, which backs off and resets or re-raises a fatal error), with two differences that
keep it in step with the embedded store: errors come out as :mod:`shared.store` errors, and a
transaction that keeps conflicting ends with :class:`RetryLimitReached` after ``max_retries``
attempts. FoundationDB's own 5-second limit applies to each attempt (``transaction_too_old``,
1007, retried); the ``transaction_timeout`` option is a separate budget for all attempts
together, because since API 610 ``on_error`` does not reset it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from shared.metrics import STORE_ERRORS
from shared.store import (
    KeyTooLarge,
    NotCommitted,
    RetryLimitReached,
    StoreError,
    TransactionTimedOut,
    TransactionTooLarge,
    TransactionTooOld,
    ValueTooLarge,
    check_key,
    check_value,
    encode_counter,
)

T = TypeVar("T")
API_VERSION = 730
# All attempts of one transaction together; a request gives up rather than hang on a lost cluster.
TOTAL_TIMEOUT_MS = 30_000
MAX_RETRIES = 200

_ERRORS: dict[int, type[StoreError]] = {
    1007: TransactionTooOld,
    1020: NotCommitted,
    1031: TransactionTimedOut,  # our TOTAL_TIMEOUT_MS budget ran out
    2101: TransactionTooLarge,
    2102: KeyTooLarge,
    2103: ValueTooLarge,
}


def _translate(error: Exception) -> Exception:
    code = getattr(error, "code", None)
    if isinstance(code, int) and code in _ERRORS:
        return _ERRORS[code](str(error))
    return error


class FdbTransaction:
    def __init__(self, tr: Any) -> None:
        self._tr = tr

    def _source(self, snapshot: bool) -> Any:
        return self._tr.snapshot if snapshot else self._tr

    def get(self, key: bytes, *, snapshot: bool = False) -> bytes | None:
        check_key(key)
        value = self._source(snapshot).get(key).wait()
        return bytes(value) if value.present() else None

    def get_range(
        self,
        begin: bytes,
        end: bytes,
        *,
        limit: int = 0,
        reverse: bool = False,
        snapshot: bool = False,
    ) -> list[tuple[bytes, bytes]]:
        # to_list() reads in the binding's want_all/exact mode: one round trip when it fits.
        rows = self._source(snapshot).get_range(begin, end, limit=limit, reverse=reverse)
        return [(bytes(kv.key), bytes(kv.value)) for kv in rows.to_list()]

    def set(self, key: bytes, value: bytes) -> None:
        check_key(key)
        check_value(value)
        self._tr.set(key, value)

    def clear(self, key: bytes) -> None:
        check_key(key)
        self._tr.clear(key)

    def clear_range(self, begin: bytes, end: bytes) -> None:
        self._tr.clear_range(begin, end)

    def add(self, key: bytes, delta: int) -> None:
        check_key(key)
        self._tr.add(key, encode_counter(delta))


class FdbSnapshot:
    """Reads at one read version: each ``read`` is a new transaction given that version."""

    def __init__(self, database: FdbDatabase) -> None:
        self._database = database
        self.version: int = database._db.create_transaction().get_read_version().wait()

    def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        fdb = self._database._fdb
        tr = self._database._db.create_transaction()
        attempts = 0
        while True:
            attempts += 1
            tr.set_read_version(self.version)
            try:
                return fn(FdbTransaction(tr), *args, **kwargs)
            except fdb.FDBError as error:
                if error.code == 1007:
                    # The version left the MVCC window: no retry can read it again.
                    raise TransactionTooOld(str(error)) from error
                try:
                    tr.on_error(error).wait()  # backs off; the version is set again above
                except fdb.FDBError as fatal:
                    raise _translate(fatal) from fatal
                if attempts >= self._database.max_retries:
                    raise RetryLimitReached(
                        f"snapshot read failed {attempts} times; last: {error}"
                    ) from error

    def close(self) -> None:
        pass


class FdbDatabase:
    def __init__(self, cluster_file: str, *, max_retries: int = MAX_RETRIES) -> None:
        import fdb

        fdb.api_version(API_VERSION)
        self._fdb = fdb
        self._db = fdb.open(cluster_file)
        self._db.options.set_transaction_timeout(TOTAL_TIMEOUT_MS)
        self.max_retries = max_retries  # attempts before RetryLimitReached

    def snapshot(self) -> FdbSnapshot:
        return FdbSnapshot(self)

    def transact(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        tr = self._db.create_transaction()
        attempts = 0
        while True:
            attempts += 1
            try:
                result = fn(FdbTransaction(tr), *args, **kwargs)
                tr.commit().wait()
                return result
            except self._fdb.FDBError as error:
                try:
                    tr.on_error(error).wait()  # backs off and resets, or re-raises if fatal
                except self._fdb.FDBError as fatal:
                    failure = _translate(fatal)
                    STORE_ERRORS.inc(error=type(failure).__name__)
                    raise failure from fatal
                if attempts >= self.max_retries:
                    STORE_ERRORS.inc(error=RetryLimitReached.__name__)
                    raise RetryLimitReached(
                        f"transaction failed {attempts} times; last: {error}"
                    ) from error

    def close(self) -> None:
        self._db = None
