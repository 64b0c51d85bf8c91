"""Workspace hosts live on a registrable domain of their own, apart from the app's.

SameSite cookies and ``Sec-Fetch-Site`` separate *sites* (registrable domains), not origins: a
workspace under the app's domain would be same-site with the app. Checked here: every
environment's values, the root variable's validation (run by a real ``terraform plan`` on the
root's variables, which needs no provider), and every place the domain is used: certificate,
DNS authorization, URL map, the functions' WORKSPACE_DOMAIN, and the sidecar pointing back at
the app's origin.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from shared.provisioner.objects import sidecar_env, workspace_host
from shared.workspaces.config import WorkspaceSettings
from tests.infra.conftest import TERRAFORM, environment_files
from tests.infra.test_terraform import first, local, resources


def registrable(host: str) -> str:
    """The site of a host under a one-label public suffix (.dev, .com): its last two labels."""
    return ".".join(host.lower().rstrip(".").split(".")[-2:])


def apart(workspace_domain: str, domain: str) -> bool:
    return registrable(workspace_domain) != registrable(domain) and not (
        workspace_domain == domain or workspace_domain.endswith("." + domain)
    )


def test_each_environment_puts_workspaces_on_another_site(environments: dict) -> None:
    app_sites = {registrable(values["domain"]) for values in environments.values()}
    workspace_sites = [registrable(values["workspace_domain"]) for values in environments.values()]
    for env, values in environments.items():
        assert apart(values["workspace_domain"], values["domain"]), env
        # Not the site of any environment's app either (staging's IDE next to prod's app).
        assert registrable(values["workspace_domain"]) not in app_sites, env
    # Staging's workspaces are not prod's site: untrusted code in one cannot reach the other.
    assert len(set(workspace_sites)) == len(workspace_sites)


@pytest.fixture(scope="module")
def root_variables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The root's variables alone (no provider, no backend): terraform evaluates them offline."""
    terraform = shutil.which("terraform")
    assert terraform, "terraform is not installed (the machine image ships it at /usr/local/bin)"
    folder = tmp_path_factory.mktemp("root-variables")
    shutil.copy(TERRAFORM / "root" / "variables.tf", folder / "variables.tf")
    subprocess.run(
        [terraform, "init", "-backend=false", "-input=false"],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return folder


def plan(folder: Path, env: str, **overrides: str) -> subprocess.CompletedProcess[str]:
    pipeline = {
        "function_sources": {},
        "sidecar_image": "s:1",
        "theia_image": "t:1",
        "llm_gateway_image": "g:1",
        **overrides,
    }
    (folder / "pipeline.tfvars.json").write_text(json.dumps(pipeline))
    return subprocess.run(
        [
            str(shutil.which("terraform")),
            "plan",
            "-input=false",
            "-no-color",
            f"-var-file={environment_files()[env]}",
            "-var-file=pipeline.tfvars.json",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_terraform_accepts_each_environment(root_variables: Path, environments: dict) -> None:
    for env in environments:
        result = plan(root_variables, env)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "workspace_domain",
    [
        "app.coditect.dev",  # the app's own host
        "ws.app.coditect.dev",  # under it (what the platform did before)
        "ws.coditect.dev",  # beside it: same registrable domain, same site
        "WS.Coditect.Dev",
    ],
)
def test_terraform_refuses_a_workspace_domain_on_the_apps_site(
    root_variables: Path, workspace_domain: str
) -> None:
    result = plan(root_variables, "prod", workspace_domain=workspace_domain)
    assert result.returncode != 0
    assert "workspace_domain must be another registrable domain" in result.stderr


def test_edge_serves_and_certifies_the_workspace_domain(modules: dict) -> None:
    edge = modules["edge"]
    assert local(edge, "workspace_host") == "*.${var.workspace_domain}"
    auth = resources(edge, "google_certificate_manager_dns_authorization")
    assert auth["workspaces"]["domain"] == "${var.workspace_domain}"
    assert auth["origin"]["domain"] == "${var.domain}"
    certs = resources(edge, "google_certificate_manager_certificate")
    managed = first(certs["workspaces"]["managed"])
    assert managed["domains"] == ["${local.workspace_host}"]
    assert managed["dns_authorizations"] == [
        "${google_certificate_manager_dns_authorization.workspaces.id}"
    ]
    entries = resources(edge, "google_certificate_manager_certificate_map_entry")
    assert entries["workspaces"]["hostname"] == "${local.workspace_host}"
    url_map = resources(edge, "google_compute_url_map")["edge"]
    rules = {first(h["hosts"]): h["path_matcher"] for h in url_map["host_rule"]}
    assert rules == {"${var.domain}": "api", "${local.workspace_host}": "workspaces"}
    # Nothing derives a workspace host from the app's domain any more.
    for path in TERRAFORM.rglob("*.tf"):
        text = path.read_text()
        assert "ws.${var.domain}" not in text, path


def test_the_modules_receive_the_workspace_domain(modules: dict, root: dict) -> None:
    calls = {k: v for block in root["module"] for k, v in block.items()}
    assert calls["edge"]["workspace_domain"] == "${var.workspace_domain}"
    assert calls["platform"]["workspace_domain"] == "${var.workspace_domain}"
    env = local(modules["platform"], "workspace_env")
    assert env["WORKSPACE_DOMAIN"] == "${var.workspace_domain}"
    common = local(modules["platform"], "common_env")
    # The sidecars' JWKS_URL and APP_ORIGIN come from here: the app's origin.
    assert common["CODITECT_PUBLIC_URL"] == "https://${var.domain}"


def test_the_sidecar_points_back_at_the_apps_origin() -> None:
    settings = WorkspaceSettings(domain="coditect-workspaces.dev")
    ws = {"workspace_id": "w0123456789abcdef", "user_id": "u1", "tenant_id": "t1"}
    env = sidecar_env(ws, "https://app.coditect.dev/", "https://app.coditect.dev")  # type: ignore[arg-type]
    assert env["APP_ORIGIN"] == "https://app.coditect.dev"
    assert env["JWKS_URL"] == "https://app.coditect.dev/.well-known/jwks.json"
    assert urlsplit(env["ACTIVITY_URL"]).netloc == "app.coditect.dev"
    host = workspace_host(ws["workspace_id"], settings)
    assert host.endswith(".coditect-workspaces.dev")
    assert apart(host, "app.coditect.dev")


def test_the_default_workspace_domain_is_not_the_apps_site() -> None:
    assert apart(WorkspaceSettings().domain, "app.coditect.dev")
