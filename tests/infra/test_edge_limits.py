"""The load balancer's limits and logs, offline: sidecar calls are not throttled per NAT address,
and launch tokens (in the launch link's query string) are not logged.

Cloud Armor expressions are evaluated with cel-python (Cloud Armor's rules language is CEL, with
``inIpRange`` added here) against the requests the sidecar really makes.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

import celpy
import pytest

from shared.provisioner.objects import sidecar_env
from tests.infra.conftest import ROOT
from tests.infra.test_terraform import first, local, resources

NAT = ["34.1.2.3", "34.1.2.4", "34.1.2.5"]  # the most modules/edge accepts
WS = {"workspace_id": "w0123456789abcdef", "user_id": "u1", "tenant_id": "t1"}
SIDECAR = sidecar_env(WS, "https://app.coditect.dev", "https://app.coditect.dev")


@pytest.fixture(scope="module")
def armor(modules: dict) -> dict[str, dict[str, Any]]:
    policy = resources(modules["edge"], "google_compute_security_policy")["edge"]
    return {str(rule["priority"]): rule for rule in policy["rule"]}


def expression(rule: dict[str, Any], edge: dict[str, list[Any]]) -> str:
    text: str = first(first(rule["match"])["expr"])["expression"]
    atoms = [f"inIpRange(origin.ip, '{a}/32')" for a in NAT]
    for name in ("heartbeat_request", "jwks_request"):
        text = text.replace(f"${{local.{name}}}", local(edge, name))
    assert "for address in var.workspace_egress" in local(edge, "from_workspaces")
    text = text.replace("${local.from_workspaces}", " || ".join(atoms))
    assert "${" not in text, text
    return text


def in_ip_range(ip: celpy.celtypes.StringType, cidr: celpy.celtypes.StringType) -> Any:
    return celpy.celtypes.BoolType(ipaddress.ip_address(ip) in ipaddress.ip_network(cidr))


def matches(text: str, ip: str, method: str, url: str) -> bool:
    env = celpy.Environment()
    program = env.program(env.compile(text), functions={"inIpRange": in_ip_range})
    activation = {
        "origin": celpy.json_to_cel({"ip": ip}),
        "request": celpy.json_to_cel({"method": method, "path": urlsplit(url).path}),
    }
    result = program.evaluate(activation)
    assert isinstance(result, celpy.celtypes.BoolType), result
    return bool(result)


def rule_for(armor: dict[str, dict[str, Any]], edge: dict, ip: str, method: str, url: str) -> dict:
    """The first rule (lowest priority number) the request matches, as Cloud Armor picks it."""
    for priority in sorted(armor, key=int):
        rule = armor[priority]
        match = first(rule["match"])
        if "expr" in match:
            if "evaluatePreconfiguredWaf" in first(match["expr"])["expression"]:
                continue  # the WAF signature: a normal sidecar request does not trip it
            if matches(expression(rule, edge), ip, method, url):
                return rule
        elif first(match["config"])["src_ip_ranges"] == ["*"]:
            return rule
    raise AssertionError("no rule matched")


def test_heartbeats_from_the_nat_are_limited_per_workspace_credential(
    armor: dict, modules: dict
) -> None:
    edge = modules["edge"]
    for ip in NAT:
        rule = rule_for(armor, edge, ip, "POST", SIDECAR["ACTIVITY_URL"])
        assert rule["action"] == "throttle"
        limit = first(rule["rate_limit_options"])
        assert limit["enforce_on_key"] == "HTTP_HEADER"
        assert limit["enforce_on_key_name"] == "Authorization"
        assert limit["exceed_action"] == "deny(429)"
    # Cloud Armor keys on the header's first 128 bytes: the activity token fits whole
    # (shared/workspaces/service.py makes it with token_urlsafe(32)).
    assert len(f"Bearer {secrets.token_urlsafe(32)}".encode()) <= 128


def test_jwks_fetches_from_the_nat_share_no_budget(armor: dict, modules: dict) -> None:
    for ip in NAT:
        rule = rule_for(armor, modules["edge"], ip, "GET", SIDECAR["JWKS_URL"])
        assert rule["action"] == "allow" and "rate_limit_options" not in rule


def test_everyone_else_keeps_the_per_address_limit(armor: dict, modules: dict) -> None:
    edge = modules["edge"]
    for ip, method, url in [
        ("198.51.100.7", "POST", SIDECAR["ACTIVITY_URL"]),  # not from the NAT
        ("198.51.100.7", "GET", SIDECAR["JWKS_URL"]),
        (NAT[0], "GET", SIDECAR["ACTIVITY_URL"]),  # not a heartbeat
        (NAT[0], "POST", "https://app.coditect.dev/api/workspaces"),
        (NAT[0], "POST", "https://app.coditect.dev/api/workspaces/w1/activity/x"),
    ]:
        rule = rule_for(armor, edge, ip, method, url)
        assert first(rule["rate_limit_options"])["enforce_on_key"] == "IP", (ip, method, url)


def test_cloud_armor_expressions_stay_within_five_subexpressions(
    armor: dict, modules: dict
) -> None:
    for rule in armor.values():
        match = first(rule["match"])
        if "expr" in match and "${local" in first(match["expr"])["expression"]:
            text = expression(rule, modules["edge"])
            assert len(re.split(r"&&|\|\|", text)) <= 5, text


def test_nat_addresses_are_reserved_and_given_to_the_edge(modules: dict, root: dict) -> None:
    platform = modules["platform"]
    nat = resources(platform, "google_compute_router_nat")["nat"]
    assert nat["nat_ip_allocate_option"] == "MANUAL_ONLY"
    assert nat["nat_ips"] == "${google_compute_address.nat[*].self_link}"
    outputs = {k: v for block in platform["output"] for k, v in block.items()}
    assert outputs["nat_addresses"]["value"] == "${google_compute_address.nat[*].address}"
    calls = {k: v for block in root["module"] for k, v in block.items()}
    assert calls["edge"]["workspace_egress"] == "${module.platform.nat_addresses}"


# -- launch tokens ------------------------------------------------------------------------------
def test_launch_links_are_excluded_from_load_balancer_logs(modules: dict) -> None:
    launch_path = "/__coditect/launch"
    assert f'"{launch_path}"' in (ROOT / "sidecar" / "app.py").read_text()
    service = (ROOT / "shared" / "workspaces" / "service.py").read_text()
    assert f"{launch_path}?token=" in service  # the link the platform hands out
    exclusion = resources(modules["edge"], "google_logging_project_exclusion")["launch_tokens"]
    log_filter = exclusion["filter"]
    assert 'resource.type="http_load_balancer"' in log_filter
    assert "${google_compute_backend_service.workspaces.name}" in log_filter
    assert f'httpRequest.requestUrl:"{launch_path}"' in log_filter
    assert 'httpRequest.requestUrl=~"[?&]token="' in log_filter
    assert exclusion.get("disabled", False) is False


def test_ingress_nginx_logs_paths_without_query_strings(modules: dict) -> None:
    log_format = local(modules["cluster"], "ingress_log_format")
    assert "$uri" in log_format
    for leaky in ("$request ", '$request"', "$request_uri", "$args", "$query_string", "$arg_"):
        assert leaky not in log_format, leaky
    release = resources(modules["cluster"], "helm_release")["workspace_ingress"]
    assert "log-format-upstream" in str(release["values"])
