"""The IDE under test: ide/ built (cached by content) once per run, one backend per test on a free
port with its own workspace folder and THEIA_CONFIG_DIR, and headless Debian Chromium.

The whole folder skips, with its reason, only when node/npm are missing. A failed build is an
error. A missing Chromium or playwright skips unless CODITECT_REQUIRE_BROWSER is set (CI), where it
fails. Screenshots go to ``.coditect/screenshots/ide/`` (ignored by git).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack import ide
from tests.conftest import free_port

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(ide.ROOT) / ".coditect" / "screenshots" / "ide"
# The Theia bundle is large and this machine is slow: the first render takes ~15 s.
RENDER_TIMEOUT_MS = 90_000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = ide.node_missing()
    for item in items:
        if reason and item.path.parent == Path(__file__).parent:
            item.add_marker(pytest.mark.skip(reason=f"the IDE cannot be built here: {reason}"))


@pytest.fixture(scope="session")
def ide_built() -> str:
    # A cold build (npm ci + theia build) takes minutes; it is cached by content afterwards.
    return ide.build()


def _require_browser() -> None:
    missing = [
        what
        for what, ok in (
            (CHROMIUM, os.access(CHROMIUM, os.X_OK)),
            ("the playwright package", importlib.util.find_spec("playwright") is not None),
        )
        if not ok
    ]
    if not missing:
        return
    install = "apt-get install chromium; pip install playwright"
    reason = f"{' and '.join(missing)} not installed ({install})"
    if os.environ.get("CODITECT_REQUIRE_BROWSER"):
        pytest.fail(f"CODITECT_REQUIRE_BROWSER is set but {reason}")
    pytest.skip(reason)


# Per module: sync playwright keeps an event loop running in this thread while it is open, which
# later asyncio tests (pytest-asyncio) cannot share.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    yield tab
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"))
    context.close()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "theia-config"
    folder.mkdir()
    ide.seed_config_dir(folder)
    return folder


@pytest.fixture
def start_theia(
    ide_built: str, workspace: Path, config_dir: Path, tmp_path: Path
) -> Iterator[Callable[[], ide.Theia]]:
    started: list[ide.Theia] = []

    def start() -> ide.Theia:
        theia = ide.start(
            workspace, port=free_port(), config_dir=config_dir, log_path=tmp_path / "theia.log"
        )
        started.append(theia)
        return theia

    yield start
    for theia in started:
        theia.stop()
