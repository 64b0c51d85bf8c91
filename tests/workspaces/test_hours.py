"""Monthly workspace hours: refused at the limit, and running workspaces stopped once crossed."""

from __future__ import annotations

import dataclasses

import pytest

from shared.accounts.licenses import write_license
from shared.accounts.usage import add_usage
from shared.store.keys import INDEXES
from shared.workspaces import hours, model
from shared.workspaces.idle import IdleCleanup
from shared.workspaces.service import stop_over_limit
from tests.workspaces.conftest import wait_status
from tests.workspaces.test_api import error, set_plan

HOUR = 3600


@pytest.fixture
def cleanup(services, ws_settings):
    # Idle stop far away: only the hours can stop a workspace in these tests.
    settings = dataclasses.replace(ws_settings, idle_seconds=100 * HOUR)
    return IdleCleanup(services.db, services.events, services.clock, settings)


def record_usage(services, user, seconds: int) -> None:
    services.db.transact(
        lambda tr: add_usage(
            tr, user.tenant_id, user.user_id, services.clock.now(), "workspace_seconds", seconds
        )
    )


def used(user) -> int:
    me = user.api.get("/api/auth/me", headers=user.headers).get_json()
    return me["usage"].get("workspace_seconds", 0)


def ready(user, name: str = "w") -> str:
    response = user.create(name)
    assert response.status_code == 202, response.get_data(as_text=True)
    wid = response.get_json()["workspace"]["workspace_id"]
    wait_status(user, wid, "ready")
    return wid


def test_create_and_start_are_refused_when_the_months_hours_are_used(services, make_user):
    user = make_user()  # free: 10 hours a month
    created = user.create("kept").get_json()["workspace"]["workspace_id"]
    user.post(created, "stop")
    record_usage(services, user, 10 * HOUR)

    refused = user.create("more")
    assert error(refused) == (403, "plan_limit")
    message = refused.get_json()["error"]["message"]
    assert "10 workspace hours a month" in message and "10.0 hours are used" in message
    assert "renew on 2027-02-01" in message
    assert error(user.post(created, "start")) == (403, "plan_limit")
    listed = user.api.get("/api/workspaces", headers=user.headers).get_json()["workspaces"]
    assert [(w["name"], w["desired_state"]) for w in listed] == [("kept", "stopped")]


def test_one_second_short_of_the_hours_a_start_is_allowed(services, make_user):
    user = make_user()
    record_usage(services, user, 10 * HOUR - 1)
    assert user.create("w").status_code == 202


def test_a_running_sessions_time_counts_at_create(platform, services, make_user, clock):
    user = make_user()
    set_plan(services, user, "starter")  # 100 hours, 3 running
    record_usage(services, user, 99 * HOUR)
    ready(user, "first")
    clock.advance(HOUR)  # the first one's session now uses the last hour
    assert error(user.create("second")) == (403, "plan_limit")


def test_the_pass_stops_running_workspaces_once_the_hours_are_crossed(
    platform, services, make_user, cleanup, clock, kube
):
    user = make_user()
    record_usage(services, user, 9 * HOUR)
    wid = ready(user)
    clock.advance(HOUR - 60)
    result = cleanup.run()
    assert result.get("stopped_hours", 0) == 0
    assert result.get("hours_checked", 0) == 0  # not due yet: not even read
    clock.advance(60)
    assert cleanup.run()["stopped_hours"] == 1
    ws = wait_status(user, wid, "stopped")
    assert "workspace hours of the free plan are used up" in ws["progress"][0]["message"]
    ns = f"u-{user.user_id}"
    assert kube.server.objects("pods", ns) == []
    assert len(kube.server.objects("persistentvolumeclaims", ns)) == 1  # files kept
    assert used(user) == 10 * HOUR
    assert error(user.post(wid, "start")) == (403, "plan_limit")
    # Nothing runs: the user's check is gone, and a later pass reads nothing.
    clock.advance(HOUR)
    assert cleanup.run().get("hours_checked", 0) == 0


def test_two_running_workspaces_use_the_hours_twice_as_fast(
    platform, services, make_user, cleanup, clock
):
    user = make_user()
    set_plan(services, user, "starter")
    record_usage(services, user, 99 * HOUR)
    first, second = ready(user, "a"), ready(user, "b")
    clock.advance(30 * 60 - 1)
    assert cleanup.run().get("stopped_hours", 0) == 0
    clock.advance(1)
    assert cleanup.run()["stopped_hours"] == 2
    wait_status(user, first, "stopped")
    wait_status(user, second, "stopped")
    assert used(user) == 100 * HOUR


def test_an_early_check_sets_the_next_one(platform, services, make_user, cleanup, clock):
    """A stop makes the real moment later; the check then due finds hours left and moves on."""
    user = make_user()
    set_plan(services, user, "starter")
    record_usage(services, user, 98 * HOUR)
    first, second = ready(user, "a"), ready(user, "b")  # check in 1 h (2 h left, 2 running)
    user.post(second, "stop")
    wait_status(user, second, "stopped")
    clock.advance(HOUR)
    result = cleanup.run()
    assert (result["hours_checked"], result.get("stopped_hours", 0)) == (1, 0)
    clock.advance(HOUR - 1)  # 98 h + 2 h of the first; the second's 0 s
    assert cleanup.run().get("stopped_hours", 0) == 0
    clock.advance(1)
    assert cleanup.run()["stopped_hours"] == 1
    wait_status(user, first, "stopped")


def test_a_downgrade_brings_the_check_forward(platform, services, make_user, cleanup, clock):
    user = make_user()
    set_plan(services, user, "pro")  # 500 hours
    record_usage(services, user, 9 * HOUR + 30 * 60)
    wid = ready(user)
    tid, uid = user.tenant_id, user.user_id

    def check_at():
        raw = services.db.transact(lambda tr: tr.get(hours.schedule_key(tid, uid)))
        return model.load(raw)["check_at"]

    assert check_at() == clock.now() + 490 * HOUR + 30 * 60

    def downgrade(tr):  # what billing does in the webhook's transaction
        write_license(tr, tid, clock.now(), plan="free", status="canceled", action="t", reason="t")
        return stop_over_limit(tr, tid, uid, 1, clock.now())

    assert services.db.transact(downgrade) == []  # one running: within the free limit
    assert check_at() == clock.now() + 30 * 60
    begin, end = INDEXES.range(hours.INDEX)
    entries = services.db.transact(lambda tr: tr.get_range(begin, end))
    assert [INDEXES.unpack(k)[1:] for k, _ in entries] == [(check_at(), tid, uid)]
    clock.advance(30 * 60)
    assert cleanup.run()["stopped_hours"] == 1
    wait_status(user, wid, "stopped")
