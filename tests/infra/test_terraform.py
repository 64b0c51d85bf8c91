"""Offline checks of terraform/: formatting, and that it declares what the code needs.

Providers cannot be downloaded here, so `terraform validate/plan` run in Cloud Build; these tests
read the HCL itself (python-hcl2) and compare it with the code: every entry point in functions/
has a function with the matching trigger, every push subscription a dead-letter policy, every
secret the code reads a declared secret.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from typing import Any

import pytest

from devstack.stack import HTTP_FUNCTIONS
from shared import secret_names
from tests.infra.conftest import ROOT, TERRAFORM

sys.path.insert(0, str(ROOT / "functions"))
import bundle

ENTRY_POINTS = bundle.discover()
# Declared in Terraform while their entry points are being written (issue tracker: workspaces
# and provisioner issues). Empty once they land; the test below fails if one is listed but exists.
PENDING: set[str] = set()
TRIGGERS = {"http": {"http", "scheduler"}, "cloud_event": {"pubsub"}}


def resources(parsed: dict[str, list[Any]], rtype: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for block in parsed.get("resource", []):
        for name, body in block.get(rtype, {}).items():
            found[name] = body
    return found


def local(parsed: dict[str, list[Any]], name: str) -> Any:
    for block in parsed.get("locals", []):
        if name in block:
            return block[name]
    raise KeyError(name)


def first(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


@pytest.fixture(scope="module")
def declared(modules: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return local(modules["platform"], "functions")


def test_terraform_is_formatted() -> None:
    terraform = shutil.which("terraform")
    assert terraform, "terraform is not installed (the machine image ships it at /usr/local/bin)"
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff"],
        cwd=TERRAFORM,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_entry_points_are_discovered() -> None:
    assert {"auth"} <= {ep.function for ep in ENTRY_POINTS}
    assert all(ep.target == ep.function for ep in ENTRY_POINTS), ENTRY_POINTS


def test_every_entry_point_has_a_function_with_the_matching_trigger(declared: dict) -> None:
    for ep in ENTRY_POINTS:
        assert ep.function in declared, f"functions/{ep.function} has no function in Terraform"
        fn = declared[ep.function]
        assert fn["entry_point"] == ep.target
        assert fn["trigger"] in TRIGGERS[ep.signature], (ep, fn["trigger"])
        if fn["trigger"] == "pubsub":
            assert fn["topic"] == "workspace-reconcile"
        if fn["trigger"] == "scheduler":
            assert fn["schedule"]


def test_every_declared_function_has_an_entry_point(declared: dict) -> None:
    present = {ep.function for ep in ENTRY_POINTS}
    assert not (PENDING & present), f"landed, remove from PENDING: {PENDING & present}"
    assert set(declared) - present == PENDING


def test_the_function_module_deploys_each_declared_function(modules: dict) -> None:
    calls = [b["function"] for b in modules["platform"].get("module", []) if "function" in b]
    assert len(calls) == 1
    call = calls[0]
    assert call["source"] == "../function"
    assert call["for_each"] == "${local.functions}"
    assert call["entry_point"] == "${each.value.entry_point}"
    assert call["trigger"] == "${each.value.trigger}"
    assert call["source_object"] == "${var.function_sources[each.key]}"

    fn = resources(modules["function"], "google_cloudfunctions2_function")["this"]
    build = first(fn["build_config"])
    assert build["runtime"] == "python311"
    assert build["entry_point"] == "${var.entry_point}"
    service = first(fn["service_config"])
    for key in (
        "available_memory",
        "timeout_seconds",
        "max_instance_request_concurrency",
        "min_instance_count",
        "max_instance_count",
        "ingress_settings",
    ):
        assert key in service, key
    assert service["direct_vpc_egress"] == "VPC_EGRESS_PRIVATE_RANGES_ONLY"
    assert "direct_vpc_network_interface" in service
    ingress = local(modules["function"], "ingress")
    assert "ALLOW_INTERNAL_AND_GCLB" in ingress and "ALLOW_INTERNAL_ONLY" in ingress


def test_public_paths_match_the_local_origin(declared: dict) -> None:
    # devstack's HTTP_FUNCTIONS is the local URL map; the load balancer's must say the same.
    for fn in HTTP_FUNCTIONS:
        paths = declared[fn.name]["paths"]
        for prefix in fn.prefixes:
            wanted = prefix + "*" if prefix.endswith("/") else prefix
            assert wanted in paths, (fn.name, prefix, paths)
    for name, fn in declared.items():
        assert bool(fn["paths"]) == (fn["trigger"] == "http"), name


def test_the_load_balancer_routes_every_http_function(modules: dict) -> None:
    url_map = resources(modules["edge"], "google_compute_url_map")["edge"]
    matchers = {m["name"]: m for m in url_map["path_matcher"]}
    rule = matchers["api"]["dynamic"][0]["path_rule"]
    assert rule["for_each"] == "${var.http_functions}"
    hosts = {first(h["hosts"]) for h in url_map["host_rule"]}
    assert hosts == {"${var.domain}", "${local.workspace_host}"}
    assert local(modules["edge"], "workspace_host") == "*.${var.workspace_domain}"
    neg = resources(modules["edge"], "google_compute_region_network_endpoint_group")["function"]
    assert neg["network_endpoint_type"] == "SERVERLESS"
    proxy = resources(modules["edge"], "google_compute_target_https_proxy")["edge"]
    assert "certificate_map" in proxy
    certs = resources(modules["edge"], "google_certificate_manager_certificate")
    assert first(certs["workspaces"]["managed"])["domains"] == ["${local.workspace_host}"]


def test_every_push_subscription_has_a_dead_letter_policy(modules: dict) -> None:
    subscriptions = {
        f"{mod}.{name}": body
        for mod, parsed in modules.items()
        for name, body in resources(parsed, "google_pubsub_subscription").items()
    }
    pushed = {k: v for k, v in subscriptions.items() if "push_config" in v}
    assert pushed, "no push subscription declared"
    for name, sub in pushed.items():
        dead = first(sub["dead_letter_policy"])
        assert dead["dead_letter_topic"] and dead["max_delivery_attempts"], name
        retry = first(sub["retry_policy"])
        assert retry["minimum_backoff"] and retry["maximum_backoff"], name
        push = first(sub["push_config"])
        assert "oidc_token" in push, f"{name} pushes without authenticating"
    # No Eventarc trigger bypasses this (its subscription could not carry a dead-letter policy).
    fn = resources(modules["function"], "google_cloudfunctions2_function")["this"]
    assert "event_trigger" not in fn


def test_pubsub_functions_are_pushed_to(modules: dict, declared: dict) -> None:
    sub = resources(modules["platform"], "google_pubsub_subscription")["push"]
    assert sub["for_each"] == "${local.pubsub_functions}"
    assert first(sub["push_config"])["push_endpoint"] == "${module.function[each.key].uri}"
    pubsub = local(modules["platform"], "pubsub_functions")
    assert 'fn.trigger == "pubsub"' in pubsub.replace("'", '"')
    assert any(fn["trigger"] == "pubsub" for fn in declared.values())
    # The Pub/Sub service agent may publish dead letters and ack the source subscription.
    topic_iam = resources(modules["platform"], "google_pubsub_topic_iam_member")
    assert topic_iam["dead_letter_publisher"]["member"] == "${local.pubsub_agent}"
    sub_iam = resources(modules["platform"], "google_pubsub_subscription_iam_member")
    assert sub_iam["dead_letter_subscriber"]["role"] == "roles/pubsub.subscriber"


def test_scheduler_calls_with_an_oidc_token(modules: dict, declared: dict) -> None:
    job = resources(modules["platform"], "google_cloud_scheduler_job")["function"]
    target = first(job["http_target"])
    assert "oidc_token" in target
    assert "scheduler" in job["for_each"]
    assert any(fn["trigger"] == "scheduler" for fn in declared.values())


def test_every_secret_the_code_reads_is_declared(modules: dict, declared: dict) -> None:
    app_secrets = set(re.findall(r'"([a-z0-9-]+)"', str(local(modules["platform"], "app_secrets"))))
    if not app_secrets:  # hcl2 may hand back the plain list
        app_secrets = set(local(modules["platform"], "app_secrets"))
    assert set(secret_names.ALL) <= app_secrets, set(secret_names.ALL) - app_secrets
    for name, fn in declared.items():
        assert set(fn["secrets"]) <= app_secrets, name
    secret = resources(modules["platform"], "google_secret_manager_secret")["app"]
    assert secret["for_each"] == "${local.app_secrets}"


def test_no_secret_values_pass_through_terraform(modules: dict) -> None:
    versions = {
        f"{mod}.{name}"
        for mod, parsed in modules.items()
        for name in resources(parsed, "google_secret_manager_secret_version")
    }
    # The kubeconfig holds an endpoint and a CA certificate, no credential.
    assert versions == {"platform.kubeconfig"}
    for parsed in modules.values():
        for rtype in ("google_service_account_key", "google_storage_hmac_key", "random_password"):
            assert not resources(parsed, rtype), rtype


def test_providers_are_pinned(modules: dict, root: dict) -> None:
    for name, parsed in {**modules, "root": root}.items():
        for block in parsed.get("terraform", []):
            for providers in block.get("required_providers", []):
                for provider, spec in providers.items():
                    assert re.match(r"^~> \d+\.\d+$", spec["version"]), (name, provider)


def variables(parsed: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    return {name: body for block in parsed.get("variable", []) for name, body in block.items()}


def test_every_variable_says_what_it_is(modules: dict, root: dict) -> None:
    for name, parsed in {**modules, "root": root}.items():
        for variable, body in variables(parsed).items():
            assert len(str(body.get("description", "")).strip()) > 10, f"{name}: var.{variable}"


def test_one_thin_root_serves_every_environment(root: dict, environments: dict) -> None:
    # No copies per environment: only variable files beside one root.
    assert set(environments) == {"staging", "prod"}
    assert not list((TERRAFORM / "environments").rglob("*.tf"))
    assert root.get("resource", []) == [], "the root declares resources itself"
    calls = {k: v for block in root["module"] for k, v in block.items()}
    assert set(calls) == {"platform", "cluster", "edge"}
    assert calls["platform"]["environment"] == "${var.environment}"
    assert calls["edge"]["environment"] == "${var.environment}"
    # The state prefix comes from `terraform init` (cloudbuild.yaml), not from the root.
    backend = root["terraform"][0]["backend"][0]["gcs"]
    assert "prefix" not in backend and "bucket" not in backend


def test_each_environment_file_sets_what_the_root_needs(root: dict, environments: dict) -> None:
    declared = variables(root)
    # The pipeline passes these (bundle map file and the images it just pushed).
    from_pipeline = {"function_sources", "sidecar_image", "theia_image", "llm_gateway_image"}
    required = {n for n, body in declared.items() if "default" not in body} - from_pipeline
    for env, values in environments.items():
        assert values["environment"] == env, f"{env}.tfvars names another environment"
        assert set(values) <= set(declared), (env, set(values) - set(declared))
        assert required <= set(values), (env, required - set(values))
        assert not (set(values) & from_pipeline), env
    assert len({frozenset(v) for v in environments.values()}) == 1, "files set different keys"
    assert environments["staging"]["project_id"] != environments["prod"]["project_id"]


def test_one_foundationdb_version_everywhere(environments: dict) -> None:
    pin = bundle.pinned_version((ROOT / "requirements.txt").read_text(), "foundationdb")
    for env, values in environments.items():
        assert values["fdb_version"] == pin, env
    cloudbuild = (ROOT / "cloudbuild.yaml").read_text()
    assert re.search(rf"_FDB_VERSION:\s*['\"]?{re.escape(pin)}", cloudbuild)


def test_foundationdb_cluster_has_three_storage_processes_and_backups(modules: dict) -> None:
    cluster = local(modules["cluster"], "fdb_cluster_manifest")
    assert cluster["kind"] == "FoundationDBCluster"
    storage = cluster["spec"]["processCounts"]["storage"]
    assert storage == "${var.fdb_storage_processes}"
    default = next(
        b["fdb_storage_processes"]
        for b in modules["cluster"]["variable"]
        if "fdb_storage_processes" in b
    )
    assert default["default"] >= 3
    backup = local(modules["cluster"], "fdb_backup_manifest")
    assert backup["kind"] == "FoundationDBBackup"
    assert backup["spec"]["blobStoreConfiguration"]["accountName"] == "storage.googleapis.com"


def test_gke_is_private_vpc_native_with_workload_identity_and_dataplane_v2(modules: dict) -> None:
    cluster = resources(modules["platform"], "google_container_cluster")["this"]
    assert cluster["networking_mode"] == "VPC_NATIVE"
    assert cluster["datapath_provider"] == "ADVANCED_DATAPATH"
    private = first(cluster["private_cluster_config"])
    assert private["enable_private_nodes"] is True
    assert private["enable_private_endpoint"] is True
    assert "workload_pool" in first(cluster["workload_identity_config"])
    pools = resources(modules["platform"], "google_container_node_pool")
    assert "workspaces" in pools
