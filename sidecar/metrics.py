"""Prometheus metrics, served on METRICS_PORT (a port the Service does not expose).

Byte counts on the hot path are plain integer adds on ``Stats``; a custom collector turns them
into counters at scrape time, so relaying a frame never takes a metrics lock.
"""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class Stats:
    """Hot-path counters, updated with plain adds."""

    __slots__ = ("active_http", "active_ws", "bytes")

    def __init__(self) -> None:
        self.active_http = 0
        self.active_ws = 0
        # (kind, direction) -> bytes
        self.bytes: dict[tuple[str, str], int] = {
            ("http", "client_to_upstream"): 0,
            ("http", "upstream_to_client"): 0,
            ("websocket", "client_to_upstream"): 0,
            ("websocket", "upstream_to_client"): 0,
        }


class _StatsCollector(Collector):
    def __init__(self, stats: Stats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        active = GaugeMetricFamily(
            "sidecar_connections_active", "Open proxied connections", labels=["kind"]
        )
        active.add_metric(["http"], self._stats.active_http)
        active.add_metric(["websocket"], self._stats.active_ws)
        yield active
        moved = CounterMetricFamily("sidecar_bytes", "Bytes relayed", labels=["kind", "direction"])
        for (kind, direction), value in self._stats.bytes.items():
            moved.add_metric([kind, direction], value)
        yield moved


class Metrics:
    def __init__(self) -> None:
        # A registry per app so tests can build several apps in one process.
        self.registry = CollectorRegistry()
        self.stats = Stats()
        self.registry.register(_StatsCollector(self.stats))
        self.connections = Counter(
            "sidecar_connections",
            "Proxied connections accepted",
            ["kind"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "sidecar_connections_rejected",
            "Connections refused by a limit",
            ["reason"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "sidecar_auth_failures", "Refused credentials", ["reason"], registry=self.registry
        )
        self.upstream_errors = Counter(
            "sidecar_upstream_errors", "Upstream failures", ["kind"], registry=self.registry
        )
        self.heartbeats = Counter(
            "sidecar_activity_heartbeats",
            "Activity heartbeats by result",
            ["result"],
            registry=self.registry,
        )
        self.activity_signals = Counter(
            "sidecar_activity_signals",
            "User activity seen, by source (input beacon, navigation, launch)",
            ["source"],
            registry=self.registry,
        )
        self.last_activity = Gauge(
            "sidecar_last_activity_timestamp_seconds",
            "Last user activity (unix time)",
            registry=self.registry,
        )

    async def handle(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, content_type="text/plain", charset="utf-8")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self.handle)
        return app
