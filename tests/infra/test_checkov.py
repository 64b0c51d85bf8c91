"""checkov over terraform/ and over the provisioner's rendered manifests: zero failed checks.

Every skip is inline next to the resource, with its reason (checked below).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.infra.conftest import TERRAFORM


def scan(checkov: Path, directory: Path, framework: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [
            str(checkov),
            "-d",
            str(directory),
            "--framework",
            framework,
            "--skip-download",
            "--quiet",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.stdout.strip(), result.stderr[-2000:]
    reports = json.loads(result.stdout)
    return reports if isinstance(reports, list) else [reports]


def failures(reports: list[dict[str, Any]]) -> list[str]:
    return [
        f"{f['check_id']} {f['resource']} ({f['file_path']})"
        for report in reports
        for f in report.get("results", {}).get("failed_checks", [])
    ]


def test_terraform_passes_checkov(checkov: Path) -> None:
    reports = scan(checkov, TERRAFORM, "terraform")
    passed = sum(r.get("summary", {}).get("passed", 0) for r in reports)
    assert passed > 50, "checkov scanned nothing"
    assert failures(reports) == []


def test_every_skip_says_why() -> None:
    for path in TERRAFORM.rglob("*.tf"):
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                assert re.search(r"checkov:skip=CKV2?_[A-Z0-9_]+:\S.{10,}", line), (path, line)


def rendered_workspace() -> list[dict[str, Any]]:
    """A sample workspace's objects, rendered by the provisioner's own pure functions."""
    from shared.llm.theia_settings import models_for_plan, render_settings
    from shared.provisioner.objects import user_objects, workspace_objects
    from shared.provisioner.slugs import user_namespace
    from shared.workspaces.config import WorkspaceSettings

    settings = WorkspaceSettings(domain="coditect-workspaces.dev")
    ws = {
        "workspace_id": "w0123456789abcdef",
        "user_id": "u0123456789abcdef",
        "tenant_id": "t0123456789abcdef",
        "name": "demo",
        "plan": "pro",
        "disk_gb": 10,
    }
    from shared.provisioner.objects import make_namespace, owner_labels

    namespace = make_namespace(
        user_namespace(ws["user_id"]), owner_labels(ws["user_id"], ws["tenant_id"])
    )
    return [
        namespace,
        *user_objects(ws, settings, running=1, storage_gb=10, volumes=1),
        *workspace_objects(
            ws,
            settings,
            activity_token="sample-token",
            public_url="https://app.coditect.dev",
            issuer="https://app.coditect.dev",
            theia_settings=render_settings(
                models_for_plan("pro"), "https://app.coditect.dev/api/llm/v1", "cdt_llm_x_y"
            ),
        ),
    ]


def test_provisioner_manifests_pass_checkov(checkov: Path, tmp_path: Path) -> None:
    objects = rendered_workspace()
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "Pod", "PersistentVolumeClaim", "NetworkPolicy", "Ingress"} <= kinds
    (tmp_path / "workspace.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
    reports = scan(checkov, tmp_path, "kubernetes")
    passed = sum(r.get("summary", {}).get("passed", 0) for r in reports)
    assert passed > 20, "checkov scanned nothing"
    assert failures(reports) == []
    # Skips live on the object as annotations, one check each, with a reason.
    skips = [
        value
        for o in objects
        for key, value in ((o["metadata"].get("annotations") or {}).items())
        if key.startswith("checkov.io/skip")
    ]
    assert sum(r.get("summary", {}).get("skipped", 0) for r in reports) == len(skips)
    for value in skips:
        assert re.fullmatch(r"CKV2?_K8S_[0-9]+=\S.{20,}", value), value
