"""Server plumbing: latency, counters, kubeconfig, discovery, concurrency, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import kubernetes
from kubernetes import client

from devstack.kubeapi import KubeStandin
from devstack.kubeapi.testing import Kube, kube_session

ROOT = Path(__file__).resolve().parents[2]


def test_latency_applies_per_call() -> None:
    with kube_session(latency=0.1) as kube:
        start = time.monotonic()
        for _ in range(3):
            kube.core.list_namespace()
        assert time.monotonic() - start >= 0.3
        kube.server.latency = 0
        start = time.monotonic()
        kube.core.list_namespace()
        assert time.monotonic() - start < 0.1


def test_counters(kube: Kube) -> None:
    kube.namespace("u-a")
    kube.core.create_namespaced_config_map("u-a", {"metadata": {"name": "c"}})
    kube.core.read_namespaced_config_map("c", "u-a")
    kube.core.list_namespaced_config_map("u-a")
    kube.core.patch_namespaced_config_map("c", "u-a", {"data": {"a": "b"}})
    kube.core.list_namespace()
    counts = kube.server.counts()
    assert counts[("create", "namespaces")] == 1
    assert counts[("create", "configmaps")] == 1
    assert counts[("get", "configmaps")] == 1
    assert counts[("list", "configmaps")] == 1
    assert counts[("patch", "configmaps")] == 1
    assert kube.server.calls() == 6
    assert kube.server.calls(verb=("get", "list")) == 3
    assert kube.server.calls(resource="configmaps") == 4
    assert kube.server.calls(namespace="u-a") == 5  # the namespace create counts too
    with urllib.request.urlopen(f"{kube.url}/_standin/counters") as resp:
        body = json.loads(resp.read())
    assert body["total"] == 6 and body["byVerb"]["create"]["configmaps"] == 1
    kube.server.reset_counts()
    assert kube.server.calls() == 0


def test_kubeconfig_and_discovery(kube: Kube, tmp_path: Path) -> None:
    path = kube.server.kubeconfig(tmp_path / "config")
    api = kubernetes.config.new_client_from_config(str(path))
    try:
        v1 = client.CoreV1Api(api)
        v1.create_namespace({"metadata": {"name": "u-cfg"}})
        assert [n.metadata.name for n in v1.list_namespace().items] == ["u-cfg"]
        version = client.VersionApi(api).get_code()
        assert version.major == "1" and version.git_version.startswith("v1.31")
        groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
        assert {"networking.k8s.io", "rbac.authorization.k8s.io"} <= groups
        resources = {r.name for r in v1.get_api_resources().resources}
        assert {"pods", "namespaces", "events", "pods/status"} <= resources
    finally:
        api.close()


def test_unknown_paths_are_404_status(kube: Kube) -> None:
    try:
        urllib.request.urlopen(f"{kube.url}/apis/apps/v1/namespaces/x/deployments")
    except urllib.error.HTTPError as e:
        assert e.code == 404
        assert json.loads(e.read())["kind"] == "Status"
    else:
        raise AssertionError("expected 404")


def test_concurrent_requests(kube: Kube) -> None:
    kube.namespace("u-load")

    def work(i: int) -> str:
        kube.core.create_namespaced_config_map("u-load", {"metadata": {"name": f"c{i}"}})
        return kube.core.read_namespaced_config_map(f"c{i}", "u-load").metadata.name

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        names = list(pool.map(work, range(300)))
    elapsed = time.monotonic() - start
    assert sorted(names) == sorted(f"c{i}" for i in range(300))
    assert elapsed < 15


def test_stop_ends_open_watches() -> None:
    server = KubeStandin(ready_delay=0.05).start()
    v1 = client.CoreV1Api(server.api_client())
    v1.create_namespace({"metadata": {"name": "u-w"}})
    resp = v1.list_namespaced_pod("u-w", watch=True, _preload_content=False)
    start = time.monotonic()
    server.stop()
    assert time.monotonic() - start < 5
    resp.release_conn()


def test_cli_prints_url_and_serves(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack.kubeapi",
            "--port",
            "0",
            "--ready-delay",
            "0.05",
            "--kubeconfig",
            str(kubeconfig),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split()[-1]
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{url}/version") as resp:
            assert json.loads(resp.read())["major"] == "1"
        assert kubeconfig.exists()
    finally:
        proc.send_signal(2)  # Ctrl-C
        _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err


def test_admin_config_endpoint(kube: Kube) -> None:
    req = urllib.request.Request(
        f"{kube.url}/_standin/config",
        data=json.dumps({"ready_delay": 0.5, "latency": 0.01}).encode(),
        headers={"Content-Type": "application/json"},
        method="PATCH",
    )
    with urllib.request.urlopen(req) as resp:
        assert json.loads(resp.read())["ready_delay"] == 0.5
    assert kube.server.ready_delay == 0.5 and kube.server.latency == 0.01


def test_cluster_wide_watch(kube: Kube) -> None:
    from kubernetes import watch

    kube.namespace("u-a")
    kube.namespace("u-b")
    kube.server.ready_delay = 60
    kube.core.create_namespaced_config_map("u-a", {"metadata": {"name": "x"}})
    kube.core.create_namespaced_config_map("u-b", {"metadata": {"name": "x"}})
    seen = {
        (e["object"].metadata.namespace, e["type"])
        for e in watch.Watch().stream(
            kube.core.list_config_map_for_all_namespaces,
            field_selector="metadata.name=x",
            timeout_seconds=1,
        )
    }
    assert seen == {("u-a", "ADDED"), ("u-b", "ADDED")}
