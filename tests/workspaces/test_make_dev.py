"""Issue 3's "done when", on `python -m devstack` (what `make dev` runs) over real HTTP: a new user
creates a workspace, watches it reach `ready` with progress, stops, starts and deletes it; an idle
one is stopped by the stack's own timer; a second user can see or touch none of it."""

from __future__ import annotations

import requests

from tests.conftest import free_port
from tests.dataplane.conftest import start_stack, stop_stack, wait_until

# Short enough for a test, long enough that the lifecycle below finishes well inside it.
IDLE_SECONDS = 8


def test_make_dev_workspace_lifecycle_isolation_and_idle_timer(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKSPACE_IDLE_SECONDS", str(IDLE_SECONDS))
    monkeypatch.setenv("CODITECT_IDLE_CLEANUP_SECONDS", "0.5")
    stack = start_stack(str(tmp_path / "data"), free_port(), str(tmp_path / "stack.log"))
    try:
        assert f"idle after {IDLE_SECONDS} s" in stack.log()
        idler, owner, stranger = stack.register(), stack.register(), stack.register()
        idle_wid = stack.create(idler, "left-alone")

        wid = stack.create(owner, "main")
        seen: list[str] = []

        def progressed_to_ready() -> bool:
            ws = stack.get(owner, wid)
            seen.append(ws["status"])
            return ws["status"] == "ready"

        wait_until(progressed_to_ready, 30, "ready")
        ws = stack.get(owner, wid)
        messages = [p["message"] for p in ws["progress"]]
        assert messages[0] == "workspace requested" and messages[-1] == "ready", messages
        assert any(m.startswith("provisioner: converging") for m in messages), messages
        assert any(m.startswith("Scheduled:") for m in messages), messages  # the pod's events
        assert ws["url"]

        # The stranger: not in their list, 404 for every verb, and nothing changed.
        listed = requests.get(f"{stack.url}/api/workspaces", headers=stranger, timeout=10)
        assert listed.json() == {"workspaces": []}
        calls = [
            requests.get(f"{stack.url}/api/workspaces/{wid}", headers=stranger, timeout=10),
            *(stack.post(stranger, wid, verb) for verb in ("stop", "start", "launch")),
            requests.delete(f"{stack.url}/api/workspaces/{wid}", headers=stranger, timeout=10),
        ]
        for response in calls:
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "workspace_not_found"
        assert stack.get(owner, wid)["status"] == "ready"

        assert stack.post(owner, wid, "stop").status_code == 202
        stopped = stack.wait_status(owner, wid, "stopped")
        assert stopped["delete_after"] and stopped["url"] is None
        assert stack.post(owner, wid, "start").status_code == 202
        stack.wait_status(owner, wid, "ready")
        gone = requests.delete(f"{stack.url}/api/workspaces/{wid}", headers=owner, timeout=10)
        assert gone.status_code == 202
        stack.wait_status(owner, wid, "deleted")
        listed = requests.get(f"{stack.url}/api/workspaces", headers=owner, timeout=10)
        assert listed.json() == {"workspaces": []}

        # Nobody used the other workspace: the stack's timer stops it, files kept.
        idle = stack.wait_status(idler, idle_wid, "stopped", within=IDLE_SECONDS + 30)
        assert idle["progress"][0]["message"].startswith("stop requested (idle for over")
        assert idle["delete_after"]
    finally:
        stop_stack(stack)
