"""One contract for every store backend: the embedded one always, FoundationDB when configured.

The FoundationDB cases carry the ``fdb`` marker: Cloud Build's contract step selects them with
``-m "fdb or emulator"`` against its FoundationDB service, the unit step leaves them out.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from shared.store import (
    MAX_KEY_SIZE,
    MAX_VALUE_SIZE,
    Database,
    KeyTooLarge,
    RetryLimitReached,
    StoreError,
    TransactionTooLarge,
    ValueTooLarge,
    decode_counter,
)
from shared.store.keys import Subspace

BACKENDS = ["embedded", pytest.param("foundationdb", marks=pytest.mark.fdb)]


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path) -> Iterator[Database]:
    if request.param == "embedded":
        from shared.store.embedded import EmbeddedDatabase

        database = EmbeddedDatabase(str(tmp_path / "store"), synchronous="NORMAL")
    else:
        cluster_file = os.environ.get("FDB_CLUSTER_FILE")
        if not cluster_file:
            pytest.skip(
                "FDB_CLUSTER_FILE is not set: no FoundationDB cluster here (runs in Cloud Build)"
            )
        from shared.store.fdb_backend import FdbDatabase

        database = FdbDatabase(cluster_file)
    yield database
    database.close()


@pytest.fixture
def space(db: Database) -> Iterator[Subspace]:
    """A fresh prefix per test, cleared afterwards, so tests share a real cluster safely."""
    sub = Subspace(("test", uuid.uuid4().hex))
    yield sub
    begin, end = sub.range()
    db.transact(lambda tr: tr.clear_range(begin, end))


def test_set_get_clear(db, space):
    db.transact(lambda tr: tr.set(space.key("a"), b"1"))
    assert db.transact(lambda tr: tr.get(space.key("a"))) == b"1"
    db.transact(lambda tr: tr.clear(space.key("a")))
    assert db.transact(lambda tr: tr.get(space.key("a"))) is None


def test_reads_see_own_writes(db, space):
    def op(tr):
        tr.set(space.key("k"), b"v")
        tr.add(space.key("n"), 5)
        tr.add(space.key("n"), 2)
        got = tr.get(space.key("k")), decode_counter(tr.get(space.key("n")))
        tr.clear_range(*space.range())
        gone = tr.get(space.key("k"))
        tr.set(space.key("after"), b"x")
        return got, gone, tr.get_range(*space.range())

    (value, counter), gone, rows = db.transact(op)
    assert (value, counter, gone) == (b"v", 7, None)
    assert rows == [(space.key("after"), b"x")]


def test_range_read_is_ordered_with_limit_and_reverse(db, space):
    def fill(tr):
        for i in [3, 1, 10, 2]:
            tr.set(space.key("item", i), str(i).encode())
        tr.set(space.key("other"), b"-")

    db.transact(fill)
    begin, end = space.range("item")
    rows = db.transact(lambda tr: tr.get_range(begin, end))
    assert [space.unpack(k)[1] for k, _ in rows] == [1, 2, 3, 10]
    top = db.transact(lambda tr: tr.get_range(begin, end, limit=2, reverse=True))
    assert [v for _, v in top] == [b"10", b"3"]
    first = db.transact(lambda tr: tr.get_range(begin, end, limit=1))
    assert first == [(space.key("item", 1), b"1")]


def test_clear_range(db, space):
    db.transact(lambda tr: [tr.set(space.key("r", i), b"x") for i in range(5)])
    db.transact(lambda tr: tr.clear_range(space.key("r", 1), space.key("r", 4)))
    rows = db.transact(lambda tr: tr.get_range(*space.range("r")))
    assert [space.unpack(k)[1] for k, _ in rows] == [0, 4]


def test_atomic_add_from_many_threads_never_conflicts(db, space):
    key = space.key("counter")

    def work():
        for _ in range(100):
            db.transact(lambda tr: tr.add(key, 1))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert decode_counter(db.transact(lambda tr: tr.get(key))) == 400


def test_two_threads_500_read_modify_writes_each_end_at_1000(db, space):
    key = space.key("rmw")
    start = threading.Barrier(2)

    def increment(tr):
        current = int(tr.get(key) or b"0")
        tr.set(key, str(current + 1).encode())

    def work():
        start.wait()
        for _ in range(500):
            db.transact(increment)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert db.transact(lambda tr: tr.get(key)) == b"1000"


def test_conflicting_write_makes_the_reader_retry(db, space):
    key = space.key("contended")
    attempts = []

    def reader(tr):
        attempts.append(1)
        seen = tr.get(key)
        if len(attempts) == 1:
            # Another client commits a write to what we read, before we commit.
            other = threading.Thread(target=lambda: db.transact(lambda t: t.set(key, b"theirs")))
            other.start()
            other.join()
        tr.set(space.key("copy"), seen or b"none")

    db.transact(reader)
    assert len(attempts) == 2
    assert db.transact(lambda tr: tr.get(space.key("copy"))) == b"theirs"


def test_snapshot_reads_do_not_conflict(db, space):
    key = space.key("watched")
    attempts = []

    def reader(tr):
        attempts.append(1)
        tr.get(key, snapshot=True)
        if len(attempts) == 1:
            other = threading.Thread(target=lambda: db.transact(lambda t: t.set(key, b"x")))
            other.start()
            other.join()
        tr.set(space.key("out"), b"done")

    db.transact(reader)
    assert len(attempts) == 1


def test_key_and_value_limits(db, space):
    with pytest.raises(KeyTooLarge):
        db.transact(lambda tr: tr.set(b"k" * (MAX_KEY_SIZE + 1), b"v"))
    with pytest.raises(ValueTooLarge):
        db.transact(lambda tr: tr.set(space.key("big"), b"v" * (MAX_VALUE_SIZE + 1)))
    db.transact(lambda tr: tr.set(space.key("max"), b"v" * MAX_VALUE_SIZE))
    assert len(db.transact(lambda tr: tr.get(space.key("max")))) == MAX_VALUE_SIZE


def test_transaction_size_limit_and_nothing_written(db, space):
    value = b"x" * 90_000

    def huge(tr):
        for i in range(120):  # ~10.8 MB
            tr.set(space.key("bulk", i), value)

    with pytest.raises(TransactionTooLarge):
        db.transact(huge)
    assert db.transact(lambda tr: tr.get_range(*space.range("bulk"))) == []


def test_transaction_older_than_five_seconds_is_retried(db, space):
    attempts = []

    def slow(tr):
        attempts.append(1)
        tr.get(space.key("x"))
        if len(attempts) == 1:
            # Past 5 s with a margin: FoundationDB measures the limit in versions (~1M/s).
            time.sleep(5.5)
        tr.set(space.key("x"), b"done")

    db.transact(slow)
    assert len(attempts) == 2
    assert db.transact(lambda tr: tr.get(space.key("x"))) == b"done"


def test_a_transaction_that_always_conflicts_ends_with_retry_limit_reached(db, space):
    key = space.key("hot")
    attempts = []
    db.max_retries = 3

    def loser(tr):
        attempts.append(1)
        tr.get(key)
        # Someone else writes what we read before every one of our commits.
        other = threading.Thread(target=lambda: db.transact(lambda t: t.add(key, 1)))
        other.start()
        other.join()
        tr.set(space.key("never"), b"x")

    with pytest.raises(RetryLimitReached):
        db.transact(loser)
    assert len(attempts) == 3
    assert db.transact(lambda tr: tr.get(space.key("never"))) is None
    assert decode_counter(db.transact(lambda tr: tr.get(key))) == 3


def test_failed_transaction_writes_nothing(db, space):
    def failing(tr):
        tr.set(space.key("partial"), b"x")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        db.transact(failing)
    assert db.transact(lambda tr: tr.get(space.key("partial"))) is None


def test_embedded_store_is_durable_and_owned_by_one_process(tmp_path):
    from shared.store.embedded import EmbeddedDatabase

    path = str(tmp_path / "durable")
    first = EmbeddedDatabase(path)
    first.transact(lambda tr: tr.set(b"kept", b"yes"))
    with pytest.raises(StoreError, match="in use"):
        EmbeddedDatabase(path)
    first.close()
    second = EmbeddedDatabase(path)
    assert second.transact(lambda tr: tr.get(b"kept")) == b"yes"
    second.close()


def test_tuple_keys_sort_by_value():
    sub = Subspace(("s",))
    keys = [sub.key("e", n) for n in [10, -1, 2, 0]]
    assert [sub.unpack(k)[1] for k in sorted(keys)] == [-1, 0, 2, 10]


def test_a_snapshot_reads_one_version_across_transactions(db: Database, space: Subspace) -> None:
    db.transact(lambda tr: tr.set(space.key("a"), b"1"))
    snapshot = db.snapshot()
    try:
        db.transact(lambda tr: tr.set(space.key("a"), b"2"))
        db.transact(lambda tr: tr.set(space.key("b"), b"new"))
        # Two separate read transactions, both at the pinned version.
        assert snapshot.read(lambda tr: tr.get(space.key("a"))) == b"1"
        rows = snapshot.read(lambda tr: tr.get_range(*space.range()))
        assert rows == [(space.key("a"), b"1")]
    finally:
        snapshot.close()
    assert db.transact(lambda tr: tr.get(space.key("a"))) == b"2"
