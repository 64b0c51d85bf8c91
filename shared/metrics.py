"""Operational metrics: one small recording API, the catalog of every metric, and its sinks.

Services record with ``WORKSPACE_IDLE_STOPS.inc(plan="free")`` or
``HTTP_REQUEST_SECONDS.observe(0.02, function=..., route=..., method=..., status="200")``.
Where the numbers go depends on the sink installed for the process:

- production (the default): each recording is one structured log line
  ``{"message": "metric", "metric": <name>, "value": <number>, "metric_labels": {...}}``;
  Cloud Logging log-based metrics, one per catalog entry (terraform/modules/platform/
  log_metrics.json, generated from this module), count or distribute them. Nothing heavier than
  ``logging`` is imported, so cold starts stay as they were (bench/metrics_import.py).
- the local stack: an in-process Prometheus registry served at ``/metrics`` (devstack/metrics.py).

Names follow Prometheus conventions (``coditect_<area>_<what>_<unit>``, counters end in
``_total``); labels take values from closed sets (plans, outcomes, reasons, route names), never
ids or emails, so series stay few. A recording never raises: a metric must not fail a request.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from typing import Protocol

log = logging.getLogger("coditect.metrics")
# Metric lines are data, not chatter: they are written whatever the process's log level.
log.setLevel(logging.INFO)

LABEL_VALUE_LIMIT = 64
# Request/step durations, in seconds (Prometheus' defaults, stretched to a slow start).
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
PROVISIONING_BUCKETS = (5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)
# Amounts (tokens, dollars, workspace counts) recorded as log-based distributions.
AMOUNT_BUCKETS = tuple(float(4**i) for i in range(12))


CATALOG: dict[str, Metric] = {}  # every metric, by name, in the order defined


class Sink(Protocol):
    def record(self, metric: Metric, value: float, labels: Mapping[str, str]) -> None: ...


class Metric:
    # Plain classes, not dataclasses: building a dataclass costs milliseconds at import.
    __slots__ = ("help", "labels", "name", "unit")
    kind = "untyped"

    def __init__(self, name: str, help: str, labels: tuple[str, ...] = (), unit: str = "1"):
        self.name = name
        self.help = help
        self.labels = labels
        self.unit = unit
        CATALOG[name] = self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def _record(self, value: float, labels: Mapping[str, object]) -> None:
        if set(labels) != set(self.labels):
            log.warning(
                "metric recorded with the wrong labels",
                extra={"fields": {"metric_name": self.name, "given": sorted(labels)}},
            )
            return
        values = {k: str(v)[:LABEL_VALUE_LIMIT] for k, v in labels.items()}
        for sink in _sinks:
            try:
                sink.record(self, float(value), values)
            except Exception:
                log.exception("metric sink failed", extra={"fields": {"metric_name": self.name}})

    def log_kind(self) -> str:
        """How Cloud Logging keeps it: INT64 counts lines, DISTRIBUTION keeps their values."""
        return "DISTRIBUTION"

    def buckets(self) -> tuple[float, ...]:
        return AMOUNT_BUCKETS


class Counter(Metric):
    __slots__ = ("amounts",)
    kind = "counter"

    def __init__(
        self,
        name: str,
        help: str,
        labels: tuple[str, ...] = (),
        unit: str = "1",
        *,
        amounts: bool = False,
    ):
        super().__init__(name, help, labels, unit)
        # True when increments carry amounts (tokens, dollars): the log-based metric then keeps
        # the values (a distribution whose sum is the total), not only the count of lines.
        self.amounts = amounts

    def inc(self, amount: float = 1.0, **labels: object) -> None:
        if amount < 0:
            return
        self._record(amount, labels)

    def log_kind(self) -> str:
        return "DISTRIBUTION" if self.amounts else "INT64"


class Histogram(Metric):
    __slots__ = ("bucket_bounds",)
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help: str,
        labels: tuple[str, ...] = (),
        unit: str = "1",
        *,
        bucket_bounds: tuple[float, ...] = SECONDS_BUCKETS,
    ):
        super().__init__(name, help, labels, unit)
        self.bucket_bounds = bucket_bounds

    def observe(self, value: float, **labels: object) -> None:
        self._record(value, labels)

    def buckets(self) -> tuple[float, ...]:
        return self.bucket_bounds


class Gauge(Metric):
    __slots__ = ()
    kind = "gauge"

    def set(self, value: float, **labels: object) -> None:
        self._record(value, labels)


class LogSink:
    """Production: one structured line per recording, for Cloud Logging's log-based metrics."""

    def record(self, metric: Metric, value: float, labels: Mapping[str, str]) -> None:
        fields = {"metric": metric.name, "value": value, "metric_labels": dict(labels)}
        log.info("metric", extra={"fields": fields})


_sinks: list[Sink] = [LogSink()]


def use_sinks(*sinks: Sink) -> None:
    """Send every recording to ``sinks`` from now on (the local stack, tests)."""
    _sinks[:] = sinks


def sinks() -> tuple[Sink, ...]:
    return tuple(_sinks)


# == the catalog ==================================================================================
# -- HTTP functions (shared/web.py Router) --------------------------------------------------------
HTTP_REQUEST_SECONDS = Histogram(
    "coditect_http_request_seconds",
    "HTTP requests answered by a function, by route (the handler's name) and status, with "
    "their latency; the count is the request rate",
    ("function", "route", "method", "status"),
    unit="s",
)

# -- workspaces and the provisioner ---------------------------------------------------------------
WORKSPACE_PROVISIONING_SECONDS = Histogram(
    "coditect_workspace_provisioning_seconds",
    "From the request (create or start) to the workspace ready",
    ("plan", "kind"),
    unit="s",
    bucket_bounds=PROVISIONING_BUCKETS,
)
WORKSPACE_START_FAILURES = Counter(
    "coditect_workspace_start_failures_total",
    "Starts (create or start) that ended failed, by reason",
    ("plan", "reason"),
)
WORKSPACE_IDLE_STOPS = Counter(
    "coditect_workspace_idle_stops_total",
    "Workspaces stopped by idle cleanup because nobody used them",
    ("plan",),
)
IDLE_CLEANUP_ACTIONS = Counter(
    "coditect_idle_cleanup_actions_total",
    "What the scheduled cleanup pass did (stops for idleness, age, hours, grace; deletes "
    "after retention; resyncs)",
    ("action",),
    amounts=True,
)
WORKSPACES_RUNNING = Gauge(
    "coditect_workspaces_running",
    "Ready workspaces by plan, counted from the store (at scrape time locally; by each "
    "cleanup pass in production)",
    ("plan",),
)
RECONCILE_ATTEMPTS = Counter(
    "coditect_reconcile_attempts_total",
    "Reconcile messages handled by the provisioner, by outcome (a settled status, a skip, or "
    "error: redelivered)",
    ("outcome",),
)
RECONCILE_DEAD_LETTERS = Counter(
    "coditect_reconcile_dead_letters_total",
    "Reconcile messages that failed their last delivery attempt (they go to the dead-letter topic)",
)

# -- accounts ------------------------------------------------------------------------------------
SIGNUPS = Counter(
    "coditect_signups_total",
    "Sign-ups by method (password, google, github) and outcome (success, failure)",
    ("method", "outcome"),
)
LOGINS = Counter(
    "coditect_logins_total",
    "Sign-ins by method (password, google, github) and outcome (success, failure, throttled)",
    ("method", "outcome"),
)

# -- billing -------------------------------------------------------------------------------------
WEBHOOK_EVENTS = Counter(
    "coditect_webhook_events_total",
    "Stripe webhook events by type (handled types; others are 'other') and outcome (applied, "
    "duplicate, ignored, ... or rejected: bad signature, error: failed, Stripe retries)",
    ("type", "outcome"),
)

# -- the store -----------------------------------------------------------------------------------
STORE_ERRORS = Counter(
    "coditect_store_errors_total",
    "FoundationDB transactions that failed for good (timed out, retried out, fatal), by error",
    ("error",),
)

# -- the LLM gateway (recorded with record_llm_request) ------------------------------------------
LLM_REQUESTS = Counter(
    "coditect_llm_requests_total",
    "LLM gateway requests by model, plan and outcome (ok, client_error, rate_limited, "
    "budget_exceeded, provider_error, cancelled)",
    ("model", "plan", "outcome"),
)
LLM_TOKENS = Counter(
    "coditect_llm_tokens_total",
    "Tokens metered by the LLM gateway, by model, plan and direction (prompt, completion)",
    ("model", "plan", "direction"),
    amounts=True,
)
LLM_COST = Counter(
    "coditect_llm_cost_usd_total",
    "What the LLM gateway's requests cost us at provider prices, in US dollars",
    ("model", "plan"),
    unit="{USD}",
    amounts=True,
)
LLM_GATEWAY_SECONDS = Histogram(
    "coditect_llm_gateway_seconds",
    "LLM gateway latency, request in to last byte out, by model and outcome",
    ("model", "outcome"),
    unit="s",
)
LLM_OUTCOMES = (
    "ok",
    "client_error",
    "rate_limited",
    "budget_exceeded",
    "provider_error",
    "cancelled",
)


def record_llm_request(
    *,
    model: str,
    plan: str,
    outcome: str,
    seconds: float,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    cost_usd: float = 0.0,
) -> None:
    """Everything the gateway records for one request, once it ended (stream included)."""
    if outcome not in LLM_OUTCOMES:
        outcome = "provider_error" if outcome.startswith("provider") else "client_error"
    LLM_REQUESTS.inc(model=model, plan=plan, outcome=outcome)
    LLM_GATEWAY_SECONDS.observe(seconds, model=model, outcome=outcome)
    if prompt_tokens:
        LLM_TOKENS.inc(prompt_tokens, model=model, plan=plan, direction="prompt")
    if completion_tokens:
        LLM_TOKENS.inc(completion_tokens, model=model, plan=plan, direction="completion")
    if cost_usd:
        LLM_COST.inc(cost_usd, model=model, plan=plan)


def log_metric_specs() -> dict[str, object]:
    """The log-based metrics Terraform creates, one per catalog entry (log_metrics.json)."""
    return {
        "comment": "Generated by `python -m shared.metrics`; do not edit (a test checks it).",
        "metrics": [
            {
                "name": m.name,
                "kind": m.kind,
                "log_kind": m.log_kind(),
                "description": m.help,
                "labels": list(m.labels),
                "unit": m.unit,
                "buckets": list(m.buckets()) if m.log_kind() == "DISTRIBUTION" else [],
            }
            for m in CATALOG.values()
        ],
    }


if __name__ == "__main__":
    sys.stdout.write(json.dumps(log_metric_specs(), indent=2) + "\n")
