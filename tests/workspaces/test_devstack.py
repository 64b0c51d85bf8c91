"""The local stack's workspace component: stand-in, provisioner subscription, timer, resync."""

from __future__ import annotations

from devstack.stack import LocalStack
from devstack.workspaces import start
from tests.workspaces.conftest import wait_status


def test_component_runs_the_lifecycle_and_the_idle_timer(services, make_user, clock, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("WORKSPACE_DOMAIN", raising=False)
    monkeypatch.setenv("KUBE_STANDIN_READY_DELAY", "0.1")
    monkeypatch.setenv("CODITECT_IDLE_CLEANUP_SECONDS", "0.1")
    stack = LocalStack(services.settings)
    stack.services = services
    stop = start(stack)
    try:
        assert any("Kubernetes API stand-in" in line for line in stack.started)
        assert any("idle cleanup every 0.1 s" in line for line in stack.started)
        user = make_user()
        wid = user.create("w").get_json()["workspace"]["workspace_id"]
        ws = wait_status(user, wid, "ready")
        assert ws["url"] == f"http://ws-{wid}.workspaces.localhost"
        clock.advance(2 * 3600 + 1)
        ws = wait_status(user, wid, "stopped", timeout=10)
        assert "idle" in ws["progress"][0]["message"]
    finally:
        services.events.drain(30)
        stop()


def test_hooks_set_the_local_url_and_hear_about_states(services, make_user, monkeypatch):
    from devstack.workspaces import install_hooks

    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("KUBE_STANDIN_READY_DELAY", "0.05")
    heard: list[tuple[str, str]] = []

    class Hooks:
        def workspace_url(self, ws):
            return f"http://127.0.0.1:9999/{ws['workspace_id']}"

        def on_status(self, ws, status):
            heard.append((ws["workspace_id"], status))

    stack = LocalStack(services.settings)
    stack.services = services
    stop = start(stack)
    install_hooks(services, Hooks())
    try:
        user = make_user()
        wid = user.create("w").get_json()["workspace"]["workspace_id"]
        assert wait_status(user, wid, "ready")["url"] == f"http://127.0.0.1:9999/{wid}"
        user.post(wid, "stop")
        wait_status(user, wid, "stopped")
        services.events.drain()
        assert heard == [(wid, "ready"), (wid, "stopped")]
    finally:
        services.events.drain(30)
        stop()
