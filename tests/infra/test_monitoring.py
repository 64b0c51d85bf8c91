"""Offline checks of metrics, dashboards and alerts: the log-based metrics are the code's catalog,
every dashboard panel and alert reads a metric the code records, every alert links a runbook that
exists, and Google Managed Prometheus scrapes what the sidecar serves, through its NetworkPolicy."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from devstack.metrics import PrometheusSink
from shared import metrics
from shared.provisioner import objects as o
from shared.workspaces.config import WorkspaceSettings
from sidecar.metrics import Metrics as SidecarMetrics
from tests.infra.conftest import ROOT, TERRAFORM
from tests.infra.test_terraform import local, resources

PLATFORM = TERRAFORM / "modules" / "platform"
CLOUD_DASHBOARD = PLATFORM / "dashboards" / "operations.json"
GRAFANA_DASHBOARD = ROOT / "ops" / "grafana" / "coditect-operations.json"
RUNBOOKS = ROOT / "docs" / "runbooks"
LOG_PREFIX = "logging_googleapis_com:user_"
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}


def sample_names(registry: Any) -> set[str]:
    """The series names a Prometheus registry exposes, from its families' names and types."""
    names = set()
    for family in registry.collect():
        names |= {family.name + suffix for suffix in SUFFIXES[family.type]}
    return names


@pytest.fixture(scope="module")
def prometheus_names() -> set[str]:
    """Every series /metrics serves: the functions' catalog (shared/metrics.py, as the local
    stack serves it) and a sidecar's (sidecar/metrics.py)."""
    return sample_names(PrometheusSink().registry) | sample_names(SidecarMetrics().registry)


@pytest.fixture(scope="module")
def log_metrics() -> dict[str, dict[str, Any]]:
    spec = json.loads((PLATFORM / "log_metrics.json").read_text())
    return {m["name"]: m for m in spec["metrics"]}


def cloud_names(log_metrics: dict[str, dict[str, Any]]) -> set[str]:
    """What Cloud Monitoring's PromQL calls the log-based metrics (distributions: + suffixes)."""
    names = set()
    for name, spec in log_metrics.items():
        suffixes = ("_count", "_sum", "_bucket") if spec["log_kind"] == "DISTRIBUTION" else ("",)
        names |= {LOG_PREFIX + name + suffix for suffix in suffixes}
    return names


def metric_refs(query: str) -> set[str]:
    """Metric names in a PromQL expression (ours all start with coditect_, sidecar_ or logging_)."""
    query = query.replace("${local.metric}", LOG_PREFIX)
    found = re.findall(r"(?<![\w:])((?:logging_googleapis_com:user_|coditect_|sidecar_)\w+)", query)
    return {name for name in found if not name.endswith("_")}


def test_log_metrics_json_is_generated_from_the_catalog() -> None:
    current = json.dumps(metrics.log_metric_specs(), indent=2) + "\n"
    command = ".venv/bin/python -m shared.metrics > terraform/modules/platform/log_metrics.json"
    assert (PLATFORM / "log_metrics.json").read_text() == current, f"regenerate: {command}"


def test_catalog_names_and_labels_follow_the_conventions() -> None:
    for name, metric in metrics.CATALOG.items():
        assert re.fullmatch(r"coditect_[a-z0-9_]+", name), name
        assert name.endswith("_total") == (metric.kind == "counter"), name
        for label in metric.labels:
            # Never ids or emails as labels: series would grow with users.
            assert not re.search(r"(^|_)(id|email|user|tenant|workspace)($|_)", label), label


def test_every_catalog_metric_is_a_log_based_metric_with_its_labels(modules: dict) -> None:
    created = resources(modules["platform"], "google_logging_metric")["coditect"]
    assert created["for_each"] == "${local.log_metrics}"
    assert "log_metrics.json" in local(modules["platform"], "log_metrics")
    assert 'jsonPayload.metric="${each.key}"' in created["filter"]
    assert "jsonPayload.metric_labels" in created["label_extractors"]
    assert "EXTRACT(jsonPayload.value)" in created["value_extractor"]
    # The recording API writes exactly the fields the extractors read.
    spec = json.loads((PLATFORM / "log_metrics.json").read_text())["metrics"]
    assert {m["name"] for m in spec} == set(metrics.CATALOG)
    for m in spec:
        catalogued = metrics.CATALOG[m["name"]]
        assert m["labels"] == list(catalogued.labels)
        assert m["log_kind"] in ("INT64", "DISTRIBUTION")
        if m["log_kind"] == "DISTRIBUTION":
            assert m["buckets"] == sorted(m["buckets"]) and m["buckets"], m["name"]


def test_grafana_dashboard_reads_only_metrics_the_code_serves(prometheus_names: set[str]) -> None:
    dashboard = json.loads(GRAFANA_DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["panels"]
    used = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            refs = metric_refs(target["expr"])
            assert refs, f"{panel['title']}: no metric in {target['expr']}"
            assert refs <= prometheus_names, f"{panel['title']}: unknown {refs - prometheus_names}"
            used |= refs
    # Both sides are on the dashboard: the functions' catalog and the sidecars.
    assert any(n.startswith("coditect_") for n in used)
    assert any(n.startswith("sidecar_") for n in used)


def test_cloud_monitoring_dashboard_reads_only_metrics_that_exist(
    modules: dict, prometheus_names: set[str], log_metrics: dict[str, dict[str, Any]]
) -> None:
    dashboard = resources(modules["platform"], "google_monitoring_dashboard")["operations"]
    assert "dashboards/operations.json" in dashboard["dashboard_json"]
    body = json.loads(CLOUD_DASHBOARD.read_text())
    known = cloud_names(log_metrics) | {n for n in prometheus_names if n.startswith("sidecar_")}
    tiles = body["mosaicLayout"]["tiles"]
    assert tiles
    for tile in tiles:
        assert tile["xPos"] + tile["width"] <= body["mosaicLayout"]["columns"]
        widget = tile["widget"]
        for data_set in widget["xyChart"]["dataSets"]:
            refs = metric_refs(data_set["timeSeriesQuery"]["prometheusQuery"])
            assert refs, widget["title"]
            assert refs <= known, f"{widget['title']}: unknown {refs - known}"


ALERTS_WANTED = {
    "function_errors": "api-errors",
    "provisioning_slow": "provisioning-slow",
    "start_failures": "start-failures",
    "dead_letters": "dead-letters",
    "webhook_failures": "webhook-failures",
    "llm_provider_errors": "llm-provider-errors",
    "foundationdb_unavailable": "foundationdb-unavailable",
    "llm_spend": "budget",
}


def test_every_alert_links_a_runbook_that_says_what_how_and_what_to_do(modules: dict) -> None:
    alerts = resources(modules["platform"], "google_monitoring_alert_policy")
    assert set(ALERTS_WANTED) <= set(alerts)
    linked = set()
    for name, alert in alerts.items():
        content = alert["documentation"][0]["content"]
        found = re.findall(r"\$\{var\.runbook_base_url\}/([a-z0-9-]+)\.md", content)
        assert len(found) == 1, f"{name}: its documentation must link one runbook"
        page = RUNBOOKS / f"{found[0]}.md"
        assert page.is_file(), f"{name}: {page} is missing"
        text = page.read_text()
        for section in ("## What it means", "## How to look", "## What to do"):
            assert section in text, f"{page.name}: no {section!r}"
        linked.add(found[0])
        if name in ALERTS_WANTED:
            assert found[0] == ALERTS_WANTED[name]
    pages = {p.stem for p in RUNBOOKS.glob("*.md")} - {"README"}
    # Pages may serve more than one alert; none is orphaned (the budget page serves the budget
    # too, which carries no documentation of its own). The restore runbook is a procedure, not an
    # alert's: the FoundationDB alert's page links it.
    assert pages <= linked | {"budget", "foundationdb-restore"}, pages - linked
    unavailable = (RUNBOOKS / "foundationdb-unavailable.md").read_text()
    assert "foundationdb-restore.md" in unavailable
    index = (RUNBOOKS / "README.md").read_text()
    assert all(f"({page}.md)" in index for page in pages)


def test_every_alert_query_reads_a_metric_that_exists(
    modules: dict, log_metrics: dict[str, dict[str, Any]]
) -> None:
    known = cloud_names(log_metrics)
    alerts = resources(modules["platform"], "google_monitoring_alert_policy")
    for name, alert in alerts.items():
        for condition in alert["conditions"]:
            for promql in condition.get("condition_prometheus_query_language", []):
                refs = {r for r in metric_refs(promql["query"]) if r.startswith(LOG_PREFIX)}
                assert refs <= known, f"{name}: unknown {refs - known}"


def test_managed_prometheus_scrapes_the_workspace_sidecars(modules: dict) -> None:
    manifest = local(modules["cluster"], "sidecar_pod_monitoring_manifest")
    release = resources(modules["cluster"], "helm_release")["sidecar_monitoring"]
    assert "local.sidecar_pod_monitoring_manifest" in str(release["values"])
    # Cluster-wide: workspace pods live in one namespace per user.
    assert manifest["kind"] == "ClusterPodMonitoring"
    assert manifest["apiVersion"] == "monitoring.googleapis.com/v1"
    selector = manifest["spec"]["selector"]
    # The selector matches the pods the provisioner makes, on the port the sidecar serves.
    made = provisioned_objects()
    pod = made["Pod"]
    labels = pod["metadata"]["labels"]
    for key, value in selector["matchLabels"].items():
        assert labels.get(key) == value, key
    for expression in selector["matchExpressions"]:
        assert expression["operator"] == "Exists" and expression["key"] in labels
    (endpoint,) = manifest["spec"]["endpoints"]
    ports = {
        port["name"]: port["containerPort"]
        for container in pod["spec"]["containers"]
        for port in container.get("ports", [])
    }
    assert endpoint["port"] in ports and endpoint["path"] == "/metrics"
    # The namespace's NetworkPolicy admits the collectors on that port and no other.
    policy = made["NetworkPolicy"]
    from_collectors = [
        rule
        for rule in policy["spec"]["ingress"]
        if rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        == "gmp-system"
    ]
    assert [rule["ports"] for rule in from_collectors] == [
        [{"protocol": "TCP", "port": ports[endpoint["port"]]}]
    ]


def provisioned_objects() -> dict[str, dict[str, Any]]:
    """The objects the provisioner makes for one workspace, by kind."""
    ws = {"workspace_id": "c" * 32, "user_id": "a" * 32, "tenant_id": "b" * 32}
    ws |= {"plan": "free", "disk_gb": 10}
    settings = WorkspaceSettings(domain="ws.example.com", sidecar_image="registry.example/s:1")
    made = o.user_objects(ws, settings, running=1, storage_gb=10, volumes=1)
    made += o.workspace_objects(
        ws,
        settings,
        activity_token="t",
        public_url="https://a.example",
        issuer="https://a.example",
        theia_settings={"ai-features.chat.defaultChatAgent": "Coditect"},
    )
    return {obj["kind"]: obj for obj in made}


def test_every_metric_is_documented_with_the_runbooks_linked() -> None:
    text = (ROOT / "docs" / "metrics.md").read_text()
    missing = [name for name in metrics.CATALOG if f"`{name}`" not in text]
    assert not missing, f"docs/metrics.md does not describe {missing}"
    assert "runbooks/README.md" in text


def test_the_local_prometheus_config_scrapes_the_stacks_metrics() -> None:
    import yaml

    from devstack.stack import LocalStack

    config = yaml.safe_load((ROOT / "ops" / "grafana" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    default = LocalStack.__dataclass_fields__["port"].default
    assert job["static_configs"][0]["targets"] == [f"127.0.0.1:{default}"]
