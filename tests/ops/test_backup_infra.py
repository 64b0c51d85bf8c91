"""Offline checks of the production backups: the operator's backup, its schedule, the restore
manifest in the runbook, and the credentials both the agents and the operator read."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.infra.conftest import TERRAFORM, parse_dir

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbooks" / "foundationdb-restore.md"
CREDENTIALS = "/var/backup-credentials/credentials"


def _local(parsed: dict[str, list[Any]], name: str) -> Any:
    return next(block[name] for block in parsed["locals"] if name in block)


def _resource(parsed: dict[str, list[Any]], rtype: str, name: str) -> Any:
    return next(b[rtype][name] for b in parsed["resource"] if name in b.get(rtype, {}))


def test_backup_runs_continuously_on_a_bounded_schedule() -> None:
    cluster = parse_dir(TERRAFORM / "modules" / "cluster")
    backup = _local(cluster, "fdb_backup_manifest")["spec"]
    assert backup["backupState"] == "Running"
    assert backup["agentCount"] >= 2
    assert backup["snapshotPeriodSeconds"] == "${var.fdb_backup_snapshot_period_seconds}"
    period = next(
        v["fdb_backup_snapshot_period_seconds"]
        for v in cluster["variable"]
        if "fdb_backup_snapshot_period_seconds" in v
    )
    assert 600 <= period["default"] <= 86400
    agent = backup["podTemplateSpec"]["spec"]["containers"][0]
    assert {"name": "FDB_BLOB_CREDENTIALS", "value": CREDENTIALS} in agent["env"]


def test_the_operator_can_reach_the_backups_it_starts_and_restores() -> None:
    cluster = parse_dir(TERRAFORM / "modules" / "cluster")
    operator = _resource(cluster, "helm_release", "fdb_operator")
    values = operator["values"][0]
    text = values if isinstance(values, str) else str(values)
    assert "FDB_BLOB_CREDENTIALS" in text and CREDENTIALS in text
    assert "fdb-backup-credentials" in text


def test_backup_bucket_keeps_versions_and_old_backups_expire() -> None:
    platform = parse_dir(TERRAFORM / "modules" / "platform")
    bucket = _resource(platform, "google_storage_bucket", "fdb_backups")
    assert bucket["versioning"][0]["enabled"] is True
    ages = [rule["condition"][0]["age"] for rule in bucket["lifecycle_rule"]]
    assert min(ages) >= 7  # long enough to notice damage and restore from before it


def test_runbook_restore_manifest_matches_the_backup() -> None:
    text = RUNBOOK.read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    restores = [
        doc
        for block in blocks
        for doc in [yaml.safe_load(re.sub(r"^ {3}", "", block, flags=re.M))]
        if doc.get("kind") == "FoundationDBRestore"
    ]
    assert len(restores) == 1
    restore = restores[0]
    assert restore["apiVersion"] == "apps.foundationdb.org/v1beta2"
    backup = _local(parse_dir(TERRAFORM / "modules" / "cluster"), "fdb_backup_manifest")
    wanted = backup["spec"]["blobStoreConfiguration"]
    given = restore["spec"]["blobStoreConfiguration"]
    assert given["accountName"] == wanted["accountName"]
    assert given["backupName"] == "coditect" and wanted["backupName"] == "${local.fdb_cluster}"
    assert given["urlParameters"] == wanted["urlParameters"]
    assert given["bucket"].endswith("-fdb-backups")
    assert restore["metadata"]["namespace"] == "fdb"
    # Every admin command the runbook names exists.
    from shared.admin.__main__ import build_parser

    commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    named = set(re.findall(r"python -m shared\.admin (\w[\w-]*)", text))
    assert named and named <= commands
