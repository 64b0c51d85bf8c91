"""Resync: a workspace whose reconcile message was lost converges after the scheduled pass."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from shared.store.keys import INDEXES
from shared.workspaces import model
from shared.workspaces.idle import IdleCleanup
from shared.workspaces.service import CreateWorkspace, WorkspaceService
from tests.workspaces.conftest import wait_status
from tests.workspaces.test_api import recorded, set_plan  # noqa: F401 (recorded: a fixture)

AFTER = 900  # the default resync threshold


class LostEvents:
    """A Pub/Sub publish that never arrives (the process died between commit and send)."""

    def __init__(self) -> None:
        self.dropped = 0

    def publish(self, topic: str, data: dict[str, Any], attributes: Any = None) -> str:
        self.dropped += 1
        return "lost"


@pytest.fixture
def cleanup(services, ws_settings):
    def make(**changes: Any) -> IdleCleanup:
        settings = dataclasses.replace(ws_settings, **changes)
        return IdleCleanup(services.db, services.events, services.clock, settings)

    return make


def create_without_publish(services, user, name: str, settings) -> str:
    lost = LostEvents()
    service = WorkspaceService(services.db, lost, services.clock, services.tokens, settings)
    claims = {"sub": user.user_id, "tid": user.tenant_id}
    wid = service.create(claims, CreateWorkspace(name=name))["workspace_id"]
    assert lost.dropped == 1
    return wid


def lagging_entries(services) -> list[tuple]:
    begin, end = INDEXES.range("ws_lagging")
    rows = services.db.transact(lambda tr: tr.get_range(begin, end))
    return [INDEXES.unpack(key)[1:] for key, _ in rows]


def test_a_create_whose_publish_was_lost_converges_after_the_sweep(
    platform, services, make_user, cleanup, clock, kube, ws_settings
):
    user = make_user()
    wid = create_without_publish(services, user, "lost", ws_settings)
    services.events.drain(5)
    assert user.workspace(wid)["status"] == "pending"  # nobody was told
    assert lagging_entries(services) == [(int(clock.now()), user.tenant_id, user.user_id, wid)]

    clock.advance(AFTER - 1)
    assert cleanup().run().get("resynced", 0) == 0  # not lagging long enough yet
    clock.advance(1)
    assert cleanup().run()["resynced"] == 1
    ws = wait_status(user, wid, "ready")
    assert ws["url"]
    assert len(kube.server.objects("pods", f"u-{user.user_id}")) == 1
    assert lagging_entries(services) == []  # settled: the entry went with the status
    assert cleanup().run().get("resync_candidates", 0) == 0


def test_a_stop_whose_publish_was_lost_converges_and_keeps_the_disk(
    platform, services, make_user, cleanup, clock, kube
):
    user = make_user()
    wid = user.create("w").get_json()["workspace"]["workspace_id"]
    wait_status(user, wid, "ready")

    def stop_quietly(tr):  # the desired state is committed; the message never leaves
        ws = model.get(tr, user.tenant_id, user.user_id, wid)
        model.set_desired(tr, ws, "stopped", clock.now(), reason="by the user")

    services.db.transact(stop_quietly)
    services.events.drain(5)
    ns = f"u-{user.user_id}"
    assert user.workspace(wid)["status"] == "stopping"
    assert len(kube.server.objects("pods", ns)) == 1  # the compute is still there

    clock.advance(AFTER)
    assert cleanup().run()["resynced"] == 1
    wait_status(user, wid, "stopped")
    assert kube.server.objects("pods", ns) == []
    assert len(kube.server.objects("persistentvolumeclaims", ns)) == 1


def test_resync_is_bounded_per_pass_and_retries_a_stuck_one_once_per_threshold(
    services,
    make_user,
    cleanup,
    clock,
    ws_settings,
    recorded,  # noqa: F811
):
    """Without a provisioner nothing converges: each pass publishes at most ``resync_batch``,
    and a workspace already re-published waits another threshold before the next try."""
    user = make_user()
    set_plan(services, user, "pro")
    wids = [create_without_publish(services, user, f"w{i}", ws_settings) for i in range(3)]
    clock.advance(AFTER)
    other = make_user()
    other.create("fresh")  # published normally, and fresh: not read by this resync
    services.events.drain(5)
    recorded.clear()

    job = cleanup(resync_batch=2)
    first = job.run()
    assert (first["resync_candidates"], first["resynced"]) == (2, 2)
    second = job.run()
    assert (second["resync_candidates"], second["resynced"]) == (1, 1)
    assert job.run().get("resync_candidates", 0) == 0
    services.events.drain(5)
    assert sorted(m["workspace_id"] for m in recorded) == sorted(wids)
    assert all(m["reason"] == "resync" and m["generation"] == 1 for m in recorded)

    recorded.clear()
    clock.advance(AFTER)
    assert job.run()["resynced"] == 2
    assert job.run()["resynced"] == 2  # the fresh one and the last of the stuck
    services.events.drain(5)
    assert len(recorded) == 4


def test_overlapping_passes_publish_a_lagging_workspace_once(
    services,
    make_user,
    cleanup,
    clock,
    ws_settings,
    recorded,  # noqa: F811
):
    import threading

    user = make_user()
    create_without_publish(services, user, "w", ws_settings)
    clock.advance(AFTER)
    results: list[dict] = []
    runs = [threading.Thread(target=lambda: results.append(cleanup().run())) for _ in range(4)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert sum(r.get("resynced", 0) for r in results) == 1
    services.events.drain(5)
    assert len(recorded) == 1
