"""The local origin's static half: the cached build of web/ and how the built app is served."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from devstack.app import WebApp, content_hash, ensure_built


class FakeNpm:
    """Stands in for npm (the real one takes a minute): records commands, writes what they make."""

    def __init__(self, web: Path) -> None:
        self.web = web
        self.commands: list[str] = []

    def __call__(self, cmd: list[str], cwd: str, check: bool) -> None:
        assert cwd == str(self.web) and check
        self.commands.append(" ".join(cmd[:2]))
        if cmd[1] == "ci":
            (self.web / "node_modules").mkdir(exist_ok=True)
        else:
            (self.web / "dist" / "assets").mkdir(parents=True, exist_ok=True)
            (self.web / "dist" / "index.html").write_text("<!doctype html><title>app</title>")


@pytest.fixture
def web(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.tsx").write_text("export {};")
    (tmp_path / "package.json").write_text("{}")
    (tmp_path / "package-lock.json").write_text('{"lockfileVersion": 3}')
    return tmp_path


def test_builds_once_then_only_when_sources_or_lockfile_change(web: Path):
    npm = FakeNpm(web)
    first = ensure_built(str(web), run=npm)
    assert first.built and npm.commands == ["npm ci", "npm run"]
    assert (web / "dist" / ".build-stamp").read_text() == first.content_hash

    again = ensure_built(str(web), run=npm)
    assert not again.built and npm.commands == ["npm ci", "npm run"]

    (web / "src" / "main.tsx").write_text("export const changed = 1;")
    assert content_hash(str(web)) != first.content_hash
    assert ensure_built(str(web), run=npm).built
    assert npm.commands[2:] == ["npm run"]  # sources changed: build, no install

    (web / "package-lock.json").write_text('{"lockfileVersion": 3, "packages": {}}')
    assert ensure_built(str(web), run=npm).built
    assert npm.commands[3:] == ["npm ci", "npm run"]  # lockfile changed: install, then build

    (web / "dist" / "index.html").unlink()  # a build someone removed is made again
    assert ensure_built(str(web), run=npm).built


def test_a_failed_build_leaves_no_stamp(web: Path):
    def failing(cmd: list[str], cwd: str, check: bool) -> None:
        raise OSError("npm: not found")

    with pytest.raises(OSError):
        ensure_built(str(web), run=failing)
    assert not (web / "dist" / ".build-stamp").exists()


@pytest.fixture
def served(tmp_path: Path) -> Any:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>app</title>")
    (dist / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("not an asset")
    return Client(WebApp(str(dist)))


def test_client_routes_get_index_html_with_the_apps_headers(served: Any):
    for path in ("/", "/dashboard", "/billing/success"):
        response = served.get(path)
        assert response.status_code == 200
        assert response.get_data(as_text=True).startswith("<!doctype html>")
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert response.headers["Cache-Control"] == "no-cache"
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp.split("style-src")[0]
        assert "frame-ancestors 'none'" in csp
        assert "frame-src http://127.0.0.1:* http://*.localhost:*" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    assert served.head("/").get_data() == b""


def test_hashed_assets_are_cached_for_a_year_and_nothing_else_is_reachable(served: Any):
    response = served.get("/assets/index-abc123.js")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    kind = response.headers["Content-Type"]
    assert kind.startswith(("text/javascript", "application/javascript"))
    for path in ("/assets/missing.js", "/assets/../secret.txt", "/assets/%2e%2e/secret.txt"):
        missing = served.get(path)
        assert missing.status_code == 404, path
        assert missing.get_json()["error"]["code"] == "not_found"


def test_without_a_build_the_app_says_how_to_make_one(tmp_path: Path):
    response = Client(WebApp(str(tmp_path / "none"))).get("/")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "app_not_built"


def test_the_origin_sends_api_paths_to_functions_and_other_gets_to_the_app(api: Any):
    unknown_api = api.get("/api/nothing-here")
    assert unknown_api.status_code == 404
    assert unknown_api.get_json()["error"]["code"] == "not_found"
    assert api.post("/dashboard").status_code == 404  # the app only answers GET and HEAD
    page = api.get("/dashboard")
    # From the app either way: the page when web/dist is built, else how to build it.
    built = os.path.exists(os.path.join(os.path.dirname(__file__), "..", "..", "web", "dist"))
    assert page.status_code == (200 if built else 503)
    assert api.get("/api/plans").status_code == 200
