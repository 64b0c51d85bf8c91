"""The web app's hosting, offline: bucket, CDN, the load balancer's routes and the app's headers.

The URL map is read from the HCL and its routing replayed (longest path wins, as the load
balancer and devstack's Dispatcher both do) for the paths people and the API use. The headers
must be the ones devstack/app serves locally, with workspace hosts as the only frame sources.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from devstack.app import security_headers
from devstack.stack import API_PATHS
from tests.infra.conftest import ROOT
from tests.infra.test_terraform import first, local, resources

WORKSPACE_DOMAIN = "coditect-workspaces.dev"
BUCKET = "bucket:app"


@pytest.fixture(scope="module")
def edge(modules: dict) -> dict[str, list[Any]]:
    return modules["edge"]


def app_matcher(edge: dict) -> dict[str, Any]:
    url_map = resources(edge, "google_compute_url_map")["edge"]
    host = next(h for h in url_map["host_rule"] if first(h["hosts"]) == "${var.domain}")
    return next(m for m in url_map["path_matcher"] if m["name"] == host["path_matcher"])


def routes(edge: dict, declared: dict) -> tuple[dict[str, tuple[str, str | None]], str]:
    """Path pattern => (backend, rewrite) on the app's host, and the default backend."""
    matcher = app_matcher(edge)
    table: dict[str, tuple[str, str | None]] = {}

    def add(paths: list[str], backend: str, rewrite: str | None = None) -> None:
        for path in paths:
            assert path not in table, f"{path} is in two path rules (the API rejects the map)"
            table[path] = (backend, rewrite)

    # The dynamic rule: one per HTTP function, with the paths modules/platform declares.
    dynamic = matcher["dynamic"][0]["path_rule"]
    assert dynamic["for_each"] == "${var.http_functions}"
    assert first(dynamic["content"])["service"].endswith(".function[path_rule.key].id}")
    for name, fn in declared.items():
        add(fn["paths"], f"function:{name}")
    for rule in matcher.get("path_rule", []):
        paths = rule["paths"]
        if isinstance(paths, str):  # a local, by reference
            paths = local(edge, paths.removeprefix("${local.").removesuffix("}"))
        service = rule["service"]
        if service == "${google_compute_backend_bucket.app.id}":
            action = first(rule["route_action"])
            add(paths, BUCKET, first(action["url_rewrite"])["path_prefix_rewrite"])
        elif service == "${google_compute_backend_service.llm_gateway.id}":
            add(paths, "llm_gateway")  # the OpenAI-compatible API on Cloud Run
        else:
            assert service.endswith(".function[var.default_function].id}"), service
            add(paths, "function:auth")
    assert matcher["default_service"] == "${google_compute_backend_bucket.app.id}"
    return table, BUCKET


def route(table: dict[str, tuple[str, str | None]], default: str, path: str) -> tuple[str, str]:
    """Where the load balancer sends ``path``, and the path the backend sees."""
    exact = table.get(path)
    if exact:
        return exact[0], exact[1] or path
    prefixes = [p for p in table if p.endswith("*") and path.startswith(p[:-1])]
    if prefixes:
        backend, rewrite = table[max(prefixes, key=len)]
        assert rewrite is None
        return backend, path
    return default, path


@pytest.fixture(scope="module")
def declared(modules: dict) -> dict[str, Any]:
    fns = local(modules["platform"], "functions")
    return {name: fn for name, fn in fns.items() if fn["trigger"] == "http"}


def client_routes() -> set[str]:
    """The app's routes as React Router declares them in web/src/App.tsx."""
    source = (ROOT / "web" / "src" / "App.tsx").read_text()
    found = {"/" + p for p in re.findall(r'<Route\s+path="([^"*:]+)"', source)}
    assert {"/dashboard", "/billing/success"} <= found, found
    return found | {"/"}


def test_every_client_route_is_index_html_with_a_200(edge: dict, declared: dict) -> None:
    assert set(local(edge, "app_routes")) == client_routes()
    table, default = routes(edge, declared)
    for path in client_routes():
        assert route(table, default, path) == (BUCKET, "/index.html"), path


def test_the_api_keeps_its_paths_and_the_rest_is_the_app(edge: dict, declared: dict) -> None:
    table, default = routes(edge, declared)
    # The same split as the local origin (devstack/stack.py API_PATHS).
    assert local(edge, "api_prefixes") == [p + "*" for p in API_PATHS]
    expected = {
        "/api/auth/me": "function:auth",
        "/api/auth/oauth/google/start": "function:oauth",
        "/api/workspaces": "function:workspaces",
        "/api/workspaces/w1/launch": "function:workspaces",
        "/api/billing/checkout": "function:billing",
        "/api/plans": "function:billing",
        "/webhooks/stripe": "function:stripe_webhook",
        "/.well-known/jwks.json": "function:auth",
        # Unclaimed API paths get a JSON 404 from the default function, never the app.
        "/api/nothing-here": "function:auth",
        "/webhooks/other": "function:auth",
        "/.well-known/openid-configuration": "function:auth",
        # Static files and unknown pages: the bucket (its not-found page is index.html).
        "/assets/index-4f3a2b.js": BUCKET,
        "/no/such/page": BUCKET,
    }
    for path, backend in expected.items():
        assert route(table, default, path) == (backend, path), path


def test_the_bucket_serves_files_but_cannot_be_listed(edge: dict) -> None:
    bucket = resources(edge, "google_storage_bucket")["app"]
    assert bucket["name"] == "${var.project_id}-web"  # cloudbuild.yaml's gs://${PROJECT_ID}-web
    assert bucket["uniform_bucket_level_access"] is True
    assert first(bucket["versioning"])["enabled"] is True
    website = first(bucket["website"])
    assert website == {"main_page_suffix": "index.html", "not_found_page": "index.html"}
    assert first(bucket["logging"])["log_bucket"] == "${var.access_log_bucket}"
    grants = resources(edge, "google_storage_bucket_iam_member")
    public = [g for g in grants.values() if g["member"] in ("allUsers", "allAuthenticatedUsers")]
    # legacyObjectReader = storage.objects.get only; objectViewer would add storage.objects.list.
    assert [g["role"] for g in public] == ["roles/storage.legacyObjectReader"]
    assert not resources(edge, "google_storage_bucket_iam_binding")
    assert not resources(edge, "google_storage_bucket_acl")


def test_the_backend_bucket_caches_by_the_objects_headers(edge: dict) -> None:
    backend = resources(edge, "google_compute_backend_bucket")["app"]
    assert backend["bucket_name"] == "${google_storage_bucket.app.name}"
    assert backend["enable_cdn"] is True
    policy = first(backend["cdn_policy"])
    # Cache-Control set at upload decides: a year for hashed assets, no-cache for index.html.
    assert policy["cache_mode"] == "USE_ORIGIN_HEADERS"
    assert backend["custom_response_headers"] == "${local.app_headers}"


def rendered_headers(edge: dict) -> dict[str, str]:
    """The backend bucket's response headers, with this environment's workspace domain."""
    out: dict[str, str] = {}
    for line in local(edge, "app_headers"):
        csp = local(edge, "app_csp")
        assert csp.startswith('${join("; ", ['), csp
        parts = re.findall(r'"((?:[^"\\]|\\.)*)"', csp.split("[", 1)[1])
        line = line.replace("${local.app_csp}", "; ".join(parts))
        line = line.replace("${var.workspace_domain}", WORKSPACE_DOMAIN)
        assert "${" not in line, line
        name, _, value = line.partition(": ")
        assert name not in out
        out[name] = value
    return out


def test_the_app_headers_are_the_local_stacks_with_workspace_frames(edge: dict) -> None:
    headers = rendered_headers(edge)
    local_headers = dict(security_headers(f"https://*.{WORKSPACE_DOMAIN}"))
    # Exactly the policy devstack/app serves, with production's workspace hosts in frame-src.
    assert headers["Content-Security-Policy"] == local_headers["Content-Security-Policy"]
    for name in ("Referrer-Policy", "X-Frame-Options"):
        assert headers[name] == local_headers[name], name
    csp = dict(d.split(" ", 1) for d in headers["Content-Security-Policy"].split("; "))
    assert csp["script-src"] == "'self'"  # no inline script, no third party
    assert "unsafe-inline" not in csp["script-src"] and "unsafe-eval" not in csp["default-src"]
    assert csp["frame-ancestors"] == "'none'"
    assert csp["frame-src"] == f"https://*.{WORKSPACE_DOMAIN}"
    assert headers["X-Content-Type-Options"] == "nosniff"
    hsts = headers["Strict-Transport-Security"]
    max_age = int(re.search(r"max-age=(\d+)", hsts).group(1))  # type: ignore[union-attr]
    assert max_age >= 31536000
