"""The real IDE on `make dev`: Theia (built from ide/) behind each workspace's real sidecar, driven
in Chromium through the local stack with ``CODITECT_IDE=theia``.

Create a workspace through the API, launch it through the sidecar: the workbench renders, a file
opened and typed into is saved into the workspace's folder and the typing moves the workspace's
``last_active`` (the injected beacon), a command runs in the terminal; stop and start keep the
files; then the same IDE framed in the app's IDE tab, where typing counts too.
Screenshots: ``.coditect/screenshots/dataplane-theia/`` (ignored by git).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack import ide
from tests.conftest import ROOT, free_port
from tests.dataplane.conftest import (
    ACTIVITY_INTERVAL,
    PASSWORD,
    Stack,
    start_stack,
    stop_stack,
    wait_until,
)
from tests.dataplane.test_browser import ARGS, CHROMIUM, _require_browser

pytestmark = pytest.mark.timeout(900)

SCREENSHOTS = Path(ROOT, ".coditect", "screenshots", "dataplane-theia")
RENDER_MS = 120_000  # the first render of the bundle on a busy 2-core machine
TYPED = "typed through the sidecar"


@pytest.fixture(scope="module")
def theia_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if reason := ide.node_missing():
        pytest.skip(f"the IDE cannot be built here: {reason}")
    base = tmp_path_factory.mktemp("theia")
    running = start_stack(
        str(base / "data"),
        free_port(),
        str(base / "stack.log"),
        {"CODITECT_IDE": "theia", "WORKSPACE_ACTIVITY_WRITE_SECONDS": "1"},
    )
    try:
        yield running
    finally:
        stop_stack(running)


def last_active(stack: Stack, headers: dict[str, str], wid: str) -> Any:
    return stack.get(headers, wid)["last_active"]


def settled_last_active(stack: Stack, headers: dict[str, str], wid: str) -> Any:
    """``last_active`` once no heartbeat is due any more (unchanged over two intervals)."""
    value = last_active(stack, headers, wid)
    deadline = time.monotonic() + 30
    while True:
        time.sleep(2.5 * ACTIVITY_INTERVAL)
        again = last_active(stack, headers, wid)
        if again == value and value is not None:
            return value
        assert time.monotonic() < deadline, "last_active never settled"
        value = again


def open_workbench(root: Any) -> None:
    """``root``: a page or a frame locator."""
    root.locator("#theia-app-shell").wait_for(timeout=RENDER_MS)
    root.locator("#shell-tab-explorer-view-container").wait_for(timeout=RENDER_MS)
    root.locator(".theia-preload").wait_for(state="detached", timeout=RENDER_MS)


def open_file(root: Any, name: str) -> Any:
    explorer = root.locator("#files")
    if not explorer.is_visible():
        root.locator("#shell-tab-explorer-view-container").click()
    root.locator(f"#files .theia-TreeNode:has-text('{name}')").dblclick(timeout=60_000)
    editor = root.locator(".theia-editor .monaco-editor").first
    editor.wait_for(timeout=60_000)
    return editor


def type_and_check_activity(
    stack: Stack, headers: dict[str, str], wid: str, page: Any, editor: Any, text: str
) -> None:
    """Typing into the editor moves ``last_active`` (beacon → sidecar → heartbeat → API)."""
    before = settled_last_active(stack, headers, wid)
    editor.locator(".view-lines").click()
    page.keyboard.press("Control+End")
    page.keyboard.type(text)
    page.keyboard.press("Control+s")
    wait_until(lambda: last_active(stack, headers, wid) > before, 15, "last_active after typing")


def test_theia_behind_the_sidecar_top_level_and_framed(theia_stack: Stack) -> None:
    _require_browser()
    from playwright.sync_api import expect, sync_playwright

    stack = theia_stack
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    email = f"theia-{uuid.uuid4().hex[:8]}@example.com"
    owner = stack.register(email)
    wid = stack.create(owner, "theia")
    started = time.monotonic()
    origin = stack.wait_status(owner, wid, "ready", within=180)["url"]
    ready_seconds = time.monotonic() - started
    state = stack.state(wid)
    assert state is not None and state["ide"]["kind"] == "theia"
    files = Path(state["files"])
    (files / "hello.txt").write_text("first line\n")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            # Ready means Theia answers through the sidecar: the launch works at once.
            page.goto(stack.launch(owner, wid))
            assert page.url == origin + "/"
            open_workbench(page)
            expect(page.locator('script[src="/__coditect/activity.js"]')).to_have_count(1)
            # Theia's own connection cookie, rewritten by the sidecar for the app's frames.
            token = {c["name"]: c for c in context.cookies(origin)}["theia-connection-token"]
            assert token["sameSite"] == "None" and token["secure"]

            editor = open_file(page, "hello.txt")
            type_and_check_activity(stack, owner, wid, page, editor, TYPED)
            saved = files / "hello.txt"
            wait_until(lambda: TYPED in saved.read_text(), 15, "the edit on disk")

            page.click("#theia\\:menubar .lm-MenuBar-item:has-text('Terminal')")
            page.click(".lm-Menu-item:has-text('New Terminal')")
            terminal = page.locator(".terminal-container .xterm").last
            terminal.wait_for(timeout=60_000)
            time.sleep(1)  # the shell behind it starts
            terminal.click()
            page.keyboard.type("echo hi from the terminal > out.txt\n")
            out = files / "out.txt"
            wait_until(
                lambda: out.exists() and out.read_text() == "hi from the terminal\n",
                30,
                "out.txt written by the terminal",
            )
            page.screenshot(path=str(SCREENSHOTS / "top-level.png"))
            page.close()

            # Stop and start: the processes go, the files stay.
            assert stack.post(owner, wid, "stop").status_code == 202
            stack.wait_status(owner, wid, "stopped", within=60)
            wait_until(lambda: stack.state(wid) is None, 30, "processes ended")
            assert saved.exists()
            assert stack.post(owner, wid, "start").status_code == 202
            assert stack.wait_status(owner, wid, "ready", within=180)["url"] == origin
            assert TYPED in saved.read_text() and out.exists()

            # The same IDE in the app's IDE tab: a cross-site frame.
            app = context.new_page()
            app.goto(stack.url + "/signin")
            app.get_by_label("Email").fill(email)
            app.get_by_label("Password").fill(PASSWORD)
            app.get_by_role("button", name="Sign in").click()
            card = app.locator('[data-testid="workspace"][data-name="theia"]')
            expect(card).to_have_attribute("data-status", "ready", timeout=30_000)
            card.get_by_role("button", name="Open theia").click()
            frame = app.frame_locator('iframe[title="IDE: theia"]')
            open_workbench(frame)
            editor = open_file(frame, "hello.txt")
            expect(editor.locator(".view-lines")).to_contain_text(TYPED, timeout=30_000)
            type_and_check_activity(stack, owner, wid, app, editor, " and framed")
            wait_until(lambda: "and framed" in saved.read_text(), 15, "the framed edit on disk")
            app.screenshot(path=str(SCREENSHOTS / "framed.png"))
        finally:
            browser.close()
    print(f"workspace ready (Theia through the sidecar) in {ready_seconds:.1f} s")
    assert os.path.exists(SCREENSHOTS / "framed.png")
