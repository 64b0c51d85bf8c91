"""The product's IDE (ide/) end to end: the built backend, served as the workspace image serves it,
driven in headless Chromium. The workbench renders, an edit typed into the editor is saved to
disk, a command typed into a terminal runs in the workspace folder, and the AI chat answers from
the OpenAI-compatible endpoint named in ``$THEIA_CONFIG_DIR/settings.json`` (the keys the
platform's settings Secret writes), through Coditect's own chat agent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack import ide
from tests.ide.conftest import RENDER_TIMEOUT_MS
from tests.ide.openai_standin import MODEL, OpenAIStandIn

pytestmark = pytest.mark.timeout(900)  # a cold build (npm ci) comes first

ANSWER = "Hello from the Coditect stand-in model"
MODEL_ID = "coditect/default"
# Theia's model aliases, each pointed at the platform's model (the agent asks for default/universal;
# the others name chat sessions and summarise).
ALIASES = (
    "default/universal",
    "default/code",
    "default/code-completion",
    "default/summarize",
    "default/fast",
)


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def open_workbench(page: Any, theia: ide.Theia) -> None:
    page.goto(theia.url + "/")
    page.wait_for_selector("#theia-app-shell", timeout=RENDER_TIMEOUT_MS)
    # Ready once the shell's side bars are laid out (the loading indicator is gone).
    page.wait_for_selector("#shell-tab-explorer-view-container", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_selector(".theia-preload", state="detached", timeout=RENDER_TIMEOUT_MS)


def test_workbench_opens_a_file_and_saves_an_edit(
    start_theia: Callable[[], ide.Theia], workspace: Path, page: Any
) -> None:
    (workspace / "hello.txt").write_text("first line\n")
    theia = start_theia()
    open_workbench(page, theia)
    # Workspace trust is off by default: no trust dialog stands in front of the workbench.
    assert page.locator(".dialogOverlay").count() == 0

    page.click("#shell-tab-explorer-view-container")
    page.dblclick("#files .theia-TreeNode:has-text('hello.txt')")
    editor = page.locator(".theia-editor .monaco-editor").first
    editor.wait_for(timeout=30_000)
    editor.locator(".view-lines").click()
    page.keyboard.press("Control+End")
    page.keyboard.type("typed in the browser")
    page.keyboard.press("Control+s")

    saved = workspace / "hello.txt"
    wait_for(lambda: "typed in the browser" in saved.read_text(), "the edit on disk")
    assert saved.read_text() == "first line\ntyped in the browser"


def test_terminal_runs_a_command_in_the_workspace(
    start_theia: Callable[[], ide.Theia], workspace: Path, page: Any
) -> None:
    theia = start_theia()
    open_workbench(page, theia)

    def shells() -> list[int]:
        return [p for p in ide.descendants(theia.process.pid) if ide.process_name(p) == "bash"]

    before = len(shells())
    page.click("#theia\\:menubar .lm-MenuBar-item:has-text('Terminal')")
    page.click(".lm-Menu-item:has-text('New Terminal')")
    terminal = page.locator(".terminal-container .xterm").last
    terminal.wait_for(timeout=30_000)
    # The terminal's shell runs in the backend's process tree (the xterm draws on a canvas).
    wait_for(lambda: len(shells()) > before, "the new terminal's shell")
    terminal.click()
    page.keyboard.type("echo hi from the terminal > out.txt\n")

    out = workspace / "out.txt"
    wait_for(out.exists, "out.txt written by the terminal's shell")
    wait_for(lambda: out.read_text() == "hi from the terminal\n", "out.txt's content")


@pytest.fixture
def openai_standin() -> Iterator[OpenAIStandIn]:
    server = OpenAIStandIn(answer=ANSWER)
    server.start()
    yield server
    server.stop()


def platform_settings(endpoint: str) -> dict[str, Any]:
    """What the platform's settings Secret holds for a workspace: AI on, its models, the agent.

    ``ai-features.AiEnable.enableAI`` is declared by @theia/ai-ide only, which this application
    does not include: here the AI features are always active and the key is inert.
    """
    return {
        "ai-features.AiEnable.enableAI": True,
        "ai-features.openAiCustom.customOpenAiModels": [
            {"model": MODEL, "url": endpoint, "id": MODEL_ID, "apiKey": "workspace-llm-token"}
        ],
        "ai-features.languageModelAliases": {
            alias: {"selectedModel": MODEL_ID} for alias in ALIASES
        },
        "ai-features.chat.defaultChatAgent": "Coditect",
    }


def test_chat_answers_from_the_configured_model(
    start_theia: Callable[[], ide.Theia],
    config_dir: Path,
    openai_standin: OpenAIStandIn,
    page: Any,
) -> None:
    (config_dir / "settings.json").write_text(json.dumps(platform_settings(openai_standin.url)))
    theia = start_theia()
    open_workbench(page, theia)

    page.click("#shell-tab-chat-view-widget")
    chat_input = page.locator("#chat-input-widget .monaco-editor")
    chat_input.wait_for(timeout=30_000)
    chat_input.click()
    page.keyboard.type("What does this workspace hold?")
    page.keyboard.press("Enter")

    answer = page.locator("#chat-view-widget").get_by_text(ANSWER)
    answer.wait_for(timeout=60_000)
    # The answer came from the stand-in: the request carried the configured model and key, the
    # user's message, and Coditect's agent prompt (the default agent, no @mention needed).
    first = openai_standin.requests[0]
    assert first["model"] == MODEL
    assert first["stream"] is True
    assert first["messages"][-1] == {"role": "user", "content": "What does this workspace hold?"}
    assert "You are Coditect" in first["messages"][0]["content"]
    assert openai_standin.authorizations[0] == "Bearer workspace-llm-token"
    assert page.locator("#chat-view-widget").get_by_text(MODEL_ID).count() >= 1
