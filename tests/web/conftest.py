"""The web app in Chromium against `python -m devstack` (as `make dev` runs it).

The stack is started as the data-plane tests start it (a subprocess, its own data dir and port)
after the app is built (cached). Screenshots go to ``tests/web/screenshots/`` (git-ignored;
``CODITECT_SCREENSHOTS`` overrides). axe-core comes from ``web/node_modules`` (a devDependency).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, free_port
from tests.dataplane.conftest import Stack, start_stack, stop_stack
from tests.dataplane.test_browser import ARGS, CHROMIUM, _require_browser

AXE = Path(ROOT, "web", "node_modules", "axe-core", "axe.min.js")
SCREENSHOTS = Path(
    os.environ.get("CODITECT_SCREENSHOTS") or Path(ROOT, "tests", "web", "screenshots")
)
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="package")
def web_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _require_browser()
    from devstack.app import ensure_built

    ensure_built()  # before the stack's own start-up clock runs
    base = tmp_path_factory.mktemp("web")
    running = start_stack(str(base / "data"), free_port(), str(base / "stack.log"))
    try:
        yield running
    finally:
        stop_stack(running)


@pytest.fixture
def browser(web_stack: Stack) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


class Pages:
    """Screenshots at desktop and phone width, and axe-core, for each page a test visits."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.violations: dict[str, list[dict[str, Any]]] = {}
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def check(self, page: Any, name: str) -> None:
        # Not "networkidle": open IDE frames keep talking to their sidecars.
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)  # let transitions settle
        page.screenshot(path=str(SCREENSHOTS / f"{self.prefix}-{name}-desktop.png"), full_page=True)
        size = page.viewport_size
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(150)
        # Nothing wider than the phone: no sideways scrolling at 360 px.
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{name}: {overflow}px wider than a 360 px screen"
        page.screenshot(path=str(SCREENSHOTS / f"{self.prefix}-{name}-phone.png"), full_page=True)
        page.set_viewport_size(size)
        self.axe(page, name)

    def axe(self, page: Any, name: str) -> None:
        # Evaluated through the DevTools protocol, which the app's CSP does not govern.
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(AXE.read_text() + "\n;0")
        found = page.evaluate(
            """async () => {
                const result = await axe.run(document, {resultTypes: ["violations"]});
                return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
            }"""
        )
        serious = [v for v in found if v["impact"] in ("serious", "critical")]
        self.violations[name] = found
        assert not serious, f"{name}: axe found\n{json.dumps(serious, indent=1)}"
