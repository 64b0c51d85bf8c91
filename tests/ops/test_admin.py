"""``python -m shared.admin``: every command against the local store, with the provisioner and
the Kubernetes stand-in running where a command publishes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from typing import Any

from shared.admin.__main__ import main
from shared.events import LocalEvents
from shared.store.keys import TENANTS
from tests.workspaces.conftest import wait_status

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def admin(services: Any, *argv: str, status: int = 0) -> Any:
    out = io.StringIO()
    assert main(list(argv), services=services, out=out) == status, out.getvalue()
    return json.loads(out.getvalue())


def audit_types(services: Any, tenant_id: str) -> list[dict[str, Any]]:
    begin, end = TENANTS[tenant_id].range("audit")
    rows = services.db.transact(lambda tr: tr.get_range(begin, end))
    return [json.loads(v) for _, v in rows]


def test_user_shows_tenant_license_workspaces_and_recent_audit(platform, make_user) -> None:
    user = make_user("Ada@Example.com")
    wid = user.create("main").get_json()["workspace"]["workspace_id"]
    wait_status(user, wid, "ready")
    report = admin(platform, "user", "ada@example.com")
    assert report["user"]["user_id"] == user.user_id
    assert report["tenant"]["tenant_id"] == user.tenant_id
    assert report["license"]["plan"] == "free" and report["effective_plan"] == "free"
    [ws] = report["workspaces"]
    assert ws["workspace_id"] == wid and ws["status"] == "ready"
    assert "activity_hash" not in json.dumps(report)
    assert {a["type"] for a in report["audit"]} >= {"workspace.created", "user.registered"}
    missing = admin(platform, "user", "nobody@example.com", status=1)
    assert missing["error"]["code"] == "user_not_found"


def test_workspaces_are_listed_by_status_across_tenants(platform, make_user) -> None:
    a, b = make_user(), make_user()
    ready = a.create("one").get_json()["workspace"]["workspace_id"]
    stopped = b.create("two").get_json()["workspace"]["workspace_id"]
    wait_status(a, ready, "ready")
    wait_status(b, stopped, "ready")
    b.post(stopped, "stop")
    wait_status(b, stopped, "stopped")
    listed = admin(platform, "workspaces", "--status", "ready")
    assert [w["workspace_id"] for w in listed] == [ready]
    both = admin(platform, "workspaces", "--status", "ready", "--status", "stopped")
    assert {w["workspace_id"] for w in both} == {ready, stopped}
    assert len(admin(platform, "workspaces")) == 2
    bad = admin(platform, "workspaces", "--status", "sleeping", status=1)
    assert bad["error"]["code"] == "value_error"


def test_stop_goes_through_the_provisioner_and_is_audited(platform, make_user, kube) -> None:
    user = make_user()
    wid = user.create("main").get_json()["workspace"]["workspace_id"]
    wait_status(user, wid, "ready")
    shown = admin(platform, "stop", wid, "--by", "ops@coditect", "--reason", "abuse report 12")
    assert shown["desired"] == "stopped"
    ws = wait_status(user, wid, "stopped")
    assert "by support: abuse report 12" in ws["progress"][0]["message"]
    stop = next(a for a in audit_types(platform, user.tenant_id) if a["type"] == "workspace.stop")
    assert stop["by"] == "ops@coditect" and stop["reason"] == "abuse report 12"
    pods = kube.core.list_namespaced_pod(f"u-{user.user_id}").items
    assert pods == []
    assert (
        admin(platform, "stop", "nope", "--by", "x", "--reason", "y", status=1)["error"]["code"]
        == "workspace_not_found"
    )


def test_reconcile_recreates_what_the_cluster_lost(platform, make_user, kube) -> None:
    user = make_user()
    wid = user.create("main").get_json()["workspace"]["workspace_id"]
    wait_status(user, wid, "ready")
    namespace = f"u-{user.user_id}"
    [pod] = kube.core.list_namespaced_pod(namespace).items
    kube.core.delete_namespaced_pod(pod.metadata.name, namespace)
    kube.wait_for(lambda: not kube.core.list_namespaced_pod(namespace).items)
    result = admin(platform, "reconcile", wid)
    assert result["workspace"]["workspace_id"] == wid and result["message_id"]
    kube.wait_for(lambda: kube.core.list_namespaced_pod(namespace).items, timeout=10)
    assert wait_status(user, wid, "ready")["status"] == "ready"


def test_dead_letters_are_requeued_and_failed_workspaces_retried(
    platform, make_user, kube, events
) -> None:
    kube.server.stop()
    user = make_user()
    wid = user.create("main").get_json()["workspace"]["workspace_id"]
    assert events.drain(30)
    assert wait_status(user, wid, "failed")
    assert [d["data"]["workspace_id"] for d in events.dead_letters] == [wid]
    kube.server.start()  # the cause is fixed
    needs_by = admin(platform, "requeue-dead-letters", "--retry-failed", status=1)
    assert needs_by["error"]["code"] == "by_required"
    result = admin(platform, "requeue-dead-letters", "--retry-failed", "--by", "ops@coditect")
    assert result == {"republished": [], "retried": [wid], "skipped": []}
    assert events.dead_letters == []
    assert wait_status(user, wid, "ready", timeout=20)["status"] == "ready"
    assert any(a["type"] == "workspace.retry" for a in audit_types(platform, user.tenant_id))
    # Nothing left: a second run does nothing.
    assert admin(platform, "requeue-dead-letters") == {
        "republished": [],
        "retried": [],
        "skipped": [],
    }


def test_requeue_resends_a_dead_letter_as_it_was(services) -> None:
    seen: list[dict[str, Any]] = []
    bus = services.events
    assert isinstance(bus, LocalEvents)
    fail = [True]

    def provisioner(event: Any) -> None:
        from shared.events import decode_event

        if fail[0]:
            raise RuntimeError("cluster unreachable")
        seen.append(decode_event(event).data)

    bus.subscribe(
        "workspace-reconcile", provisioner, name="provisioner", max_attempts=2, min_backoff=0.01
    )
    bus.subscribe("other", provisioner, name="other", max_attempts=1)
    bus.publish("workspace-reconcile", {"tenant_id": "t1", "workspace_id": "w1"})
    bus.publish("other", {"something": "else"})
    assert bus.drain(10) and len(bus.dead_letters) == 2
    fail[0] = False
    result = admin(services, "requeue-dead-letters")
    assert result["republished"] == ["w1"] and result["retried"] == []
    assert bus.drain(10)
    assert seen[0]["workspace_id"] == "w1" and seen[0]["requeued_from"]
    # Another subscription's dead letter is not this tool's to resend.
    assert [d["subscription"] for d in bus.dead_letters] == ["other"]


def test_grant_and_revoke_a_plan_audited_and_within_limits(
    platform, make_user, kube, clock
) -> None:
    user = make_user("grace@example.com")
    granted = admin(
        platform, "grant", "grace@example.com", "pro", "--by", "ops@coditect", "--reason", "t-42"
    )
    assert granted["license"]["plan"] == "pro" and granted["from_plan"] == "free"
    first = user.create("one").get_json()["workspace"]["workspace_id"]
    clock.advance(1)  # the newest running workspace is the one a downgrade stops
    second = user.create("two").get_json()["workspace"]["workspace_id"]
    wait_status(user, first, "ready")
    wait_status(user, second, "ready")
    assert admin(platform, "user", "grace@example.com")["effective_plan"] == "pro"
    revoked = admin(
        platform, "revoke", "grace@example.com", "--by", "ops@coditect", "--reason", "trial over"
    )
    assert revoked["license"]["plan"] == "free" and revoked["stopped"] == [second]
    wait_status(user, second, "stopped")
    assert user.workspace(first)["status"] == "ready"
    kinds = {a["type"]: a for a in audit_types(platform, user.tenant_id)}
    assert kinds["license.support_grant"]["by"] == "ops@coditect"
    assert kinds["license.support_revoke"]["reason"] == "trial over"
    bad = admin(
        platform, "grant", "grace@example.com", "gold", "--by", "x", "--reason", "y", status=1
    )
    assert bad["error"]["code"] == "bad_plan"


def test_the_command_line_works_on_the_local_store_by_default(tmp_path, api, services) -> None:
    from tests.conftest import register

    register(api, "lin@example.com")
    env = {**os.environ, "CODITECT_DATA_DIR": str(tmp_path / "data")}

    def run(*argv: str, data_dir: str | None = None) -> subprocess.CompletedProcess[str]:
        environ = {**env, "CODITECT_DATA_DIR": data_dir} if data_dir else env
        return subprocess.run(
            [sys.executable, "-m", "shared.admin", *argv],
            cwd=ROOT,
            env=environ,
            capture_output=True,
            text=True,
            timeout=120,
        )

    busy = run("user", "lin@example.com")
    assert busy.returncode == 2 and "store_unavailable" in busy.stdout  # the stack owns it
    services.events.close()
    services.db.close()
    shown = run("user", "lin@example.com")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert json.loads(shown.stdout)["user"]["email"] == "lin@example.com"
    dump = tmp_path / "store.dump.gz"
    dumped = run("dump", str(dump))
    assert dumped.returncode == 0, dumped.stdout + dumped.stderr
    restored_dir = str(tmp_path / "restored")
    restored = run("restore", str(dump), data_dir=restored_dir)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert json.loads(restored.stdout)["rows"] == json.loads(dumped.stdout)["rows"]
    again = run("restore", str(dump), data_dir=restored_dir)
    assert again.returncode == 1 and "store_not_empty" in again.stdout
    found = run("user", "lin@example.com", data_dir=restored_dir)
    assert json.loads(found.stdout)["user"]["email"] == "lin@example.com"
