"""End to end through the real entry points: HTTP function -> topic -> provisioner -> stand-in."""

from __future__ import annotations

from tests.workspaces.conftest import wait_status


def test_create_ready_stop_start_delete(platform, make_user, kube):
    user = make_user()
    created = user.create("main")
    assert created.status_code == 202, created.get_data(as_text=True)
    wid = created.get_json()["workspace"]["workspace_id"]
    assert created.get_json()["workspace"]["status"] in ("pending", "provisioning")

    ws = wait_status(user, wid, "ready")
    assert ws["url"] == f"https://ws-{wid}.ws.test"
    messages = [p["message"] for p in ws["progress"]]
    assert any("Scheduled" in m for m in messages), messages
    assert messages[-1] == "ready"
    ns = f"u-{user.user_id}"
    assert [p["metadata"]["name"] for p in kube.server.objects("pods", ns)] == [f"ws-{wid}"]

    assert user.post(wid, "stop").status_code == 202
    ws = wait_status(user, wid, "stopped")
    assert kube.server.objects("pods", ns) == []
    assert [p["metadata"]["name"] for p in kube.server.objects("persistentvolumeclaims", ns)] == [
        f"ws-{wid}-home"
    ]

    assert user.post(wid, "start").status_code == 202
    wait_status(user, wid, "ready")
    assert len(kube.server.objects("pods", ns)) == 1

    assert user.delete(wid).status_code == 202
    wait_status(user, wid, "deleted")
    for resource in ("pods", "services", "ingresses", "persistentvolumeclaims", "secrets"):
        assert kube.server.objects(resource, ns) == [], resource
