"""Issue 16's "done when", on `python -m devstack` (what `make dev` runs) over real HTTP: a
workspace goes create -> ready -> idle stop, and the stack's /metrics shows it (provisioning
histogram, the running gauge, idle stops), next to the request, sign-up and reconcile counters."""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port
from tests.dataplane.conftest import start_stack, stop_stack, wait_until

# Long enough that the scrapes at ready come well before the idle stop, on a loaded machine too.
IDLE_SECONDS = 12
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    response = requests.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when none)."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


def test_workspace_create_ready_idle_stop_shows_in_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKSPACE_IDLE_SECONDS", str(IDLE_SECONDS))
    monkeypatch.setenv("CODITECT_IDLE_CLEANUP_SECONDS", "0.5")
    stack = start_stack(str(tmp_path / "data"), free_port(), str(tmp_path / "stack.log"))
    try:
        before = scrape(stack.url)
        # Every catalogued metric is listed before anything happened; the gauge reads the store.
        assert value(before, "coditect_workspaces_running", plan="free") == 0
        assert ("coditect_workspace_provisioning_seconds_count", frozenset()) not in before

        user = stack.register()
        wid = stack.create(user, "measured")
        ready = stack.wait_status(user, wid, "ready")
        assert ready["url"]

        count = "coditect_workspace_provisioning_seconds_count"
        # Observed just after the ready status commits: give the provisioner that instant.
        wait_until(
            lambda: value(scrape(stack.url), count, plan="free", kind="create") == 1,
            10,
            "the start measured",
        )
        at_ready = scrape(stack.url)
        assert value(at_ready, "coditect_workspace_provisioning_seconds_sum", plan="free") > 0
        # The request -> ready time falls in a bucket at or under 30 s, not only in +Inf.
        assert value(at_ready, "coditect_workspace_provisioning_seconds_bucket", le="30.0") == 1
        assert value(at_ready, "coditect_workspaces_running", plan="free") == 1
        assert value(at_ready, "coditect_workspace_idle_stops_total", plan="free") == 0
        assert value(at_ready, "coditect_signups_total", method="password", outcome="success") == 1
        assert value(at_ready, "coditect_reconcile_attempts_total", outcome="ready") >= 1
        created = value(
            at_ready,
            "coditect_http_request_seconds_count",
            function="workspaces",
            route="create",
            method="POST",
            status="202",
        )
        assert created == 1

        stopped = stack.wait_status(user, wid, "stopped", within=IDLE_SECONDS + 30)
        assert stopped["progress"][0]["message"].startswith("stop requested (idle for over")

        after = scrape(stack.url)
        assert value(after, "coditect_workspace_idle_stops_total", plan="free") == 1
        assert value(after, "coditect_idle_cleanup_actions_total", action="stopped_idle") == 1
        assert value(after, "coditect_workspaces_running", plan="free") == 0
        assert value(after, count, plan="free") == 1  # a stop is not a start
        # Counted when the provisioner's handler returns, just after the status is committed.
        wait_until(
            lambda: (
                value(scrape(stack.url), "coditect_reconcile_attempts_total", outcome="stopped")
                >= 1
            ),
            10,
            "the stop's reconcile counted",
        )
    finally:
        stop_stack(stack)
