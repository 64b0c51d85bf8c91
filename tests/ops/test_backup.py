"""Dump under concurrent writes, restore into a new data dir, and run the platform on it."""

from __future__ import annotations

import gzip
import threading
import time
from typing import Any

import pytest

from shared.store import TransactionTooOld
from shared.store.backup import (
    BackupError,
    DumpInvalid,
    StoreNotEmpty,
    dump_store,
    restore_store,
    verify_dump,
)
from shared.store.embedded import EmbeddedDatabase
from shared.store.keys import Subspace

RECORDS = Subspace(("test_backup",))


def _write(tr: Any, writer: int, seq: int) -> None:
    # Two keys per transaction: a dump that mixed versions would show a head without its record.
    tr.set(RECORDS.key("rec", writer, seq), b"x" * 200)
    tr.set(RECORDS.key("head", writer), str(seq).encode())


def test_dump_under_concurrent_writes_holds_every_acknowledged_record(tmp_path: Any) -> None:
    db = EmbeddedDatabase(str(tmp_path / "a"), synchronous="NORMAL")
    acked: dict[int, list[tuple[int, float]]] = {w: [] for w in range(4)}
    stop = threading.Event()

    def writer(w: int) -> None:
        seq = 0
        while not stop.is_set():
            db.transact(_write, w, seq)
            acked[w].append((seq, time.monotonic()))
            seq += 1

    for w in range(4):  # records acknowledged well before the dump
        for seq in range(300):
            db.transact(_write, w, seq)
    threads = [threading.Thread(target=writer, args=(w + 4,)) for w in range(4)]
    acked.update({w + 4: [] for w in range(4)})
    for t in threads:
        t.start()
    time.sleep(0.3)
    started = time.monotonic()
    # Small chunks: the dump is many transactions while the writers keep committing.
    summary = dump_store(db, str(tmp_path / "dump.gz"), chunk_rows=50)
    finished = time.monotonic()
    time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join()
    db.close()
    assert summary.chunks > 20

    restored = EmbeddedDatabase(str(tmp_path / "b"), synchronous="NORMAL")
    result = restore_store(restored, summary.path)
    assert result.rows == summary.rows and result.read_version == summary.read_version
    begin, end = RECORDS.range("rec")
    rows = restored.transact(lambda tr: tr.get_range(begin, end))
    present: dict[int, set[int]] = {}
    for key, _ in rows:
        _, w, seq = RECORDS.unpack(key)
        present.setdefault(w, set()).add(seq)
    for w in range(4):
        assert present[w] == set(range(300))
    for w in range(4, 8):
        seqs = present.get(w, set())
        # Every record acknowledged before the dump began is there...
        assert all(seq in seqs for seq, at in acked[w] if at < started)
        # ...none begun after it ended, and what is there is one consistent prefix.
        assert not any(seq in seqs for seq, at in acked[w] if at > finished + 0.05)
        assert seqs == set(range(len(seqs)))
        head = restored.transact(lambda tr, w=w: tr.get(RECORDS.key("head", w)))
        assert (int(head) if head else -1) == len(seqs) - 1
    restored.close()


def test_restore_refuses_a_store_that_is_not_empty(tmp_path: Any) -> None:
    db = EmbeddedDatabase(str(tmp_path / "a"), synchronous="NORMAL")
    db.transact(_write, 1, 1)
    summary = dump_store(db, str(tmp_path / "dump.gz"))
    db.transact(_write, 2, 2)
    with pytest.raises(StoreNotEmpty):
        restore_store(db, summary.path)
    assert db.transact(lambda tr: tr.get(RECORDS.key("head", 2))) == b"2"
    db.close()


def test_restore_refuses_a_truncated_or_altered_dump_and_writes_nothing(tmp_path: Any) -> None:
    db = EmbeddedDatabase(str(tmp_path / "a"), synchronous="NORMAL")
    for seq in range(50):
        db.transact(_write, 1, seq)
    summary = dump_store(db, str(tmp_path / "dump.gz"))
    db.close()
    with gzip.open(summary.path, "rb") as fh:
        lines = fh.readlines()
    truncated, altered = tmp_path / "truncated.gz", tmp_path / "altered.gz"
    with gzip.open(truncated, "wb") as fh:
        fh.writelines(lines[:-5])
    with gzip.open(altered, "wb") as fh:
        fh.writelines([*lines[:3], lines[4], lines[3], *lines[5:]])
    target = EmbeddedDatabase(str(tmp_path / "b"), synchronous="NORMAL")
    for bad in (truncated, altered, tmp_path / "missing.gz"):
        with pytest.raises(DumpInvalid):
            restore_store(target, str(bad))
    assert target.transact(lambda tr: tr.get_range(b"", b"\xff", limit=1)) == []
    assert verify_dump(summary.path)[1] == summary.rows
    target.close()


def test_snapshot_reads_one_version_and_ages_out_like_foundationdb(tmp_path: Any) -> None:
    db = EmbeddedDatabase(str(tmp_path / "a"), synchronous="NORMAL")
    db.transact(_write, 1, 1)
    snap = db.snapshot()
    db.transact(_write, 1, 2)
    assert snap.read(lambda tr: tr.get(RECORDS.key("head", 1))) == b"1"
    with pytest.raises(Exception, match="read-only"):
        snap.read(lambda tr: tr.set(b"k", b"v"))
    db.mvcc_window_seconds = 0.05
    time.sleep(0.1)
    with pytest.raises(TransactionTooOld):
        snap.read(lambda tr: tr.get(RECORDS.key("head", 1)))
    snap.close()
    # A dump that keeps outliving its version gives up with a clear error and leaves no file.
    db.mvcc_window_seconds = 0.0
    with pytest.raises(BackupError, match="backup agents"):
        dump_store(db, str(tmp_path / "dump.gz"), attempts=2)
    assert not list(tmp_path.glob("dump.gz*"))
    db.close()


def test_the_platform_runs_on_a_restored_store(tmp_path: Any, services: Any, api: Any) -> None:
    import requests

    from devstack.stack import LocalStack
    from shared.settings import Settings
    from tests.conftest import bearer, free_port, register

    body = register(api, "grace@example.com")
    created = api.post("/api/workspaces", json={"name": "thesis"}, headers=bearer(body))
    assert created.status_code == 202, created.get_data(as_text=True)
    summary = dump_store(services.db, str(tmp_path / "dump.gz"))

    restored_dir = tmp_path / "restored"
    target = EmbeddedDatabase(str(restored_dir / "store"))
    assert restore_store(target, summary.path).rows == summary.rows
    target.close()
    port = free_port()
    settings = Settings(data_dir=str(restored_dir), public_url=f"http://127.0.0.1:{port}")
    stack = LocalStack(settings, port=port, threads=4, components=[])
    stack.start()
    try:
        login = requests.post(
            f"{stack.url}/api/auth/login",
            json={"email": "grace@example.com", "password": "correct horse battery"},
            timeout=30,
        )
        assert login.status_code == 200, login.text
        listed = requests.get(
            f"{stack.url}/api/workspaces", headers=bearer(login.json()), timeout=30
        )
        assert listed.status_code == 200
        names = [ws["name"] for ws in listed.json()["workspaces"]]
        assert names == ["thesis"]
        assert (
            listed.json()["workspaces"][0]["workspace_id"]
            == created.get_json()["workspace"]["workspace_id"]
        )
    finally:
        stack.stop()
