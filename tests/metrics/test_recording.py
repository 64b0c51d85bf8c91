"""The recording API: the production log lines, the local Prometheus registry, the HTTP router's
request metrics, and that none of it costs the functions' cold start a metrics client."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator, Mapping

import flask
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.metrics import PrometheusSink
from shared import metrics
from shared.errors import NotFound
from shared.logs import CloudLoggingFormatter
from shared.web import Reply, Router
from tests.conftest import ROOT
from tests.metrics.recorder import Recorded


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the metrics logger writes, through the JSON formatter Cloud Logging reads."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(CloudLoggingFormatter("test"))
    logger = logging.getLogger("coditect.metrics")
    logger.addHandler(handler)
    metrics.use_sinks(metrics.LogSink())
    yield stream
    logger.removeHandler(handler)


def entries(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_production_recording_is_one_structured_log_line(log_lines):
    # The root logger may be at WARNING (LOG_LEVEL): metric lines are written all the same.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)
    try:
        metrics.WORKSPACE_IDLE_STOPS.inc(plan="free")
        metrics.LLM_TOKENS.inc(1234, model="gpt-x", plan="pro", direction="prompt")
    finally:
        root.setLevel(level)
    stops, tokens = entries(log_lines)
    assert stops["message"] == "metric" and stops["severity"] == "INFO"
    assert stops["metric"] == "coditect_workspace_idle_stops_total"
    assert stops["value"] == 1.0 and stops["metric_labels"] == {"plan": "free"}
    # Label names are not mistaken for secrets by the log scrubber.
    assert tokens["metric_labels"] == {"model": "gpt-x", "plan": "pro", "direction": "prompt"}
    assert tokens["value"] == 1234.0


def test_wrong_labels_are_dropped_with_a_warning_never_raised(recorded, caplog):
    metrics.WORKSPACE_IDLE_STOPS.inc(plan="free", user_id="u1")
    metrics.SIGNUPS.inc(method="password")
    assert recorded.items == []
    assert "metric recorded with the wrong labels" in caplog.text


def test_a_failing_sink_does_not_fail_the_caller(caplog):
    class Broken:
        def record(self, metric: metrics.Metric, value: float, labels: Mapping[str, str]) -> None:
            raise RuntimeError("disk full")

    later = Recorded()
    metrics.use_sinks(Broken(), later)
    try:
        metrics.RECONCILE_DEAD_LETTERS.inc()
    finally:
        metrics.use_sinks(metrics.LogSink())
    assert later.items == [("coditect_reconcile_dead_letters_total", 1.0, {})]
    assert "metric sink failed" in caplog.text


def test_label_values_are_bounded_in_length(recorded):
    metrics.LOGINS.inc(method="x" * 500, outcome="success")
    assert len(recorded.items[0][2]["method"]) == metrics.LABEL_VALUE_LIMIT


def samples(text: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def test_prometheus_sink_lists_every_metric_and_computes_gauges_at_scrape_time():
    sink = PrometheusSink()
    running = {("free",): 2.0, ("pro",): 1.0}
    sink.add_gauge_source(metrics.WORKSPACES_RUNNING, lambda: dict(running))
    text = sink.exposition().decode()
    for metric in metrics.CATALOG.values():
        assert f"# TYPE {metric.name} {metric.kind}" in text, metric.name
    seen = samples(sink.exposition())
    assert seen[("coditect_workspaces_running", frozenset({("plan", "free")}))] == 2
    # A label set the source no longer returns is gone from the next scrape.
    running.pop(("pro",))
    seen = samples(sink.exposition())
    assert ("coditect_workspaces_running", frozenset({("plan", "pro")})) not in seen


def test_llm_requests_are_recorded_with_tokens_cost_and_latency():
    sink = PrometheusSink()
    metrics.use_sinks(sink)
    try:
        metrics.record_llm_request(
            model="claude-x",
            plan="starter",
            outcome="ok",
            seconds=1.5,
            prompt_tokens=100,
            completion_tokens=20,
            cost_usd=0.003,
        )
        metrics.record_llm_request(
            model="claude-x", plan="starter", outcome="provider_502", seconds=9
        )
    finally:
        metrics.use_sinks(metrics.LogSink())
    seen = samples(sink.exposition())
    model = ("model", "claude-x")
    plan = ("plan", "starter")
    assert seen[("coditect_llm_requests_total", frozenset({model, plan, ("outcome", "ok")}))] == 1
    errors = (
        "coditect_llm_requests_total",
        frozenset({model, plan, ("outcome", "provider_error")}),
    )
    assert seen[errors] == 1
    tokens = ("coditect_llm_tokens_total", frozenset({model, plan, ("direction", "completion")}))
    assert seen[tokens] == 20
    assert seen[("coditect_llm_cost_usd_total", frozenset({model, plan}))] == pytest.approx(0.003)
    latency = ("coditect_llm_gateway_seconds_count", frozenset({model, ("outcome", "ok")}))
    assert seen[latency] == 1


def test_the_router_records_every_request_by_route_and_status(recorded):
    router = Router("things")

    @router.route("GET", "/api/things/{thing_id}")
    def get_thing(request: object, thing_id: str) -> Reply:
        if thing_id == "missing":
            raise NotFound("no such thing")
        if thing_id == "broken":
            raise RuntimeError("bug")
        return Reply(200, {"id": thing_id})

    app = flask.Flask("test")
    app.add_url_rule("/<path:path>", "any", lambda path: router(flask.request), methods=["GET"])
    client = app.test_client()
    for path in ("/api/things/a1", "/api/things/missing", "/api/things/broken", "/elsewhere"):
        client.get(path)
    client.get("/healthz")
    seen = [(labels["route"], labels["status"]) for _, _, labels in recorded.items]
    assert seen == [
        ("get_thing", "200"),
        ("get_thing", "404"),
        ("get_thing", "500"),
        ("unmatched", "404"),
        ("healthz", "200"),
    ]
    name, seconds, labels = recorded.items[0]
    assert name == "coditect_http_request_seconds" and seconds >= 0
    assert labels["function"] == "things" and labels["method"] == "GET"


def test_the_functions_cold_path_imports_no_metrics_client():
    code = (
        "import sys, shared.web, shared.metrics, shared.provisioner.triage, shared.workspaces.idle;"
        "assert 'prometheus_client' not in sys.modules, 'prometheus_client imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
