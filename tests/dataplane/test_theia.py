"""The real IDE on `make dev`: Theia (built from ide/) behind each workspace's real sidecar, driven
in Chromium through the local stack with ``CODITECT_IDE=theia``.

Create a workspace through the API, launch it through the sidecar: the workbench renders, a file
opened and typed into is saved into the workspace's folder and the typing moves the workspace's
``last_active`` (the injected beacon), a command runs in the terminal, a message sent in the AI
chat is answered by the provider stand-in through the LLM gateway on the stack's origin and
counted once against the tenant; stop and start keep the files; then the same IDE framed in the
app's IDE tab, where typing counts too.
Screenshots: ``.coditect/screenshots/dataplane-theia/`` (ignored by git).
"""

from __future__ import annotations

import json
import os
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack import ide
from devstack.llm_standins import WORDS
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
# ``[chunks:N]`` asks the provider stand-in for an answer of N words (devstack/llm_standins.py).
QUESTION = "What does this workspace hold? [chunks:5]"
ANSWER = " ".join(WORDS[:5])


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


def llm_requests(stack: Stack, headers: dict[str, str]) -> tuple[int, int]:
    """The month's LLM requests: the user's (``/api/auth/me``) and the tenant's
    (``/api/llm/usage``)."""
    me = requests.get(f"{stack.url}/api/auth/me", headers=headers, timeout=10)
    usage = requests.get(f"{stack.url}/api/llm/usage", headers=headers, timeout=10)
    assert me.status_code == 200 and usage.status_code == 200, (me.text, usage.text)
    return me.json()["usage"].get("llm_requests", 0), usage.json()["used"]


def gateway_settings(stack: Stack, files: Path) -> dict[str, Any]:
    """The workspace's Theia settings: its plan's models at the gateway on the stack's origin,
    with its own LLM key, in a file only its owner reads."""
    path = files.parent / "theia" / "settings.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    settings: dict[str, Any] = json.loads(path.read_text())
    models = settings["ai-features.openAiCustom.customOpenAiModels"]
    assert models and {m["url"] for m in models} == {f"{stack.url}/api/llm/v1"}
    assert len({m["apiKey"] for m in models}) == 1 and models[0]["apiKey"].startswith("cdt_llm_")
    return settings


def chat_is_answered_and_metered(stack: Stack, headers: dict[str, str], page: Any) -> str:
    """A message in Theia's AI chat: the stand-in's answer shows, and the month's LLM requests
    go up by exactly one (the Theia backend called the gateway with the workspace's key).
    Returns the model that answered, as the usage report names it."""
    before = llm_requests(stack, headers)
    page.click("#shell-tab-chat-view-widget")
    chat_input = page.locator("#chat-input-widget .monaco-editor")
    chat_input.wait_for(timeout=60_000)
    chat_input.click()
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    page.locator("#chat-view-widget").get_by_text(ANSWER).wait_for(timeout=60_000)
    after = (before[0] + 1, before[1] + 1)
    wait_until(lambda: llm_requests(stack, headers) == after, 15, "one LLM request counted")
    time.sleep(3)  # nothing else follows the answer (no session-naming request)
    assert llm_requests(stack, headers) == after
    report = requests.get(f"{stack.url}/api/llm/usage", headers=headers, timeout=10).json()
    (answered,) = report["by_model"]
    assert answered["requests"] == 1
    return str(answered["model"])


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
    settings = gateway_settings(stack, files)

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

            # The AI chat, through the platform's LLM gateway, metered.
            model = chat_is_answered_and_metered(stack, owner, page)
            universal = settings["ai-features.languageModelAliases"]["default/universal"]
            assert universal == {"selectedModel": f"coditect/{model}"}
            page.screenshot(path=str(SCREENSHOTS / "chat.png"))
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
