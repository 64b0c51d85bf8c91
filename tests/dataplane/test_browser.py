"""A real browser on `make dev`: sign up in the web app, create a workspace, open its IDE tab and
then the IDE in its own window, leave it untouched (no activity, even while the page pings over
its WebSocket), then type (activity).

Chromium (Debian's, /usr/bin/chromium) driven by Playwright. Skipped only when the browser or
Playwright is missing and CODITECT_REQUIRE_BROWSER is unset; with it set (CI), that is a failure.
Screenshots: ``<tmp>/app.png`` and ``<tmp>/ide.png``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.dataplane.conftest import ACTIVITY_INTERVAL, PASSWORD, Stack, wait_until

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


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
    reason = (
        f"{' and '.join(missing)} not installed (apt-get install chromium; pip install playwright)"
    )
    if os.environ.get("CODITECT_REQUIRE_BROWSER"):
        pytest.fail(f"CODITECT_REQUIRE_BROWSER is set but {reason}")
    pytest.skip(reason)


# What the heartbeat reports, from the workspace sidecar's metrics: activity seen by source,
# heartbeats the platform accepted, and the last_active value of the latest one.
WATCHED = (
    ("sidecar_activity_signals_total", ("launch",)),
    ("sidecar_activity_signals_total", ("navigation",)),
    ("sidecar_activity_signals_total", ("input",)),
    ("sidecar_activity_heartbeats_total", ("ok",)),
    ("sidecar_last_activity_timestamp_seconds", ()),
)

# Theia's frontend pings its backend over the socket while it is quiet; this does the same,
# every 200 ms, through the placeholder page's own WebSocket (`ws`).
RPC_PINGS = """() => {
  let id = 0;
  window.__rpc = setInterval(() => ws.send(JSON.stringify(
    {jsonrpc: "2.0", id: ++id, method: "ping", params: []})), 200);
}"""


def activity(stack: Stack, state: dict[str, Any]) -> dict[str, float]:
    samples = stack.sidecar_metrics(state)
    return {f"{name}{list(labels)}": samples.get((name, labels), 0.0) for name, labels in WATCHED}


def test_open_ide_from_the_web_app_in_chromium(stack: Stack, tmp_path: Path):
    _require_browser()
    from playwright.sync_api import expect, sync_playwright

    email = f"browser-{uuid.uuid4().hex[:8]}@example.com"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1100, "height": 700})
            app = context.new_page()
            errors: list[str] = []
            app.on("pageerror", lambda error: errors.append(str(error)))
            app.goto(stack.url + "/signup")
            app.get_by_label("Email").fill(email)
            app.get_by_label("Password").fill(PASSWORD)
            app.get_by_role("button", name="Create free account").click()
            expect(app.get_by_test_id("current-plan")).to_have_text("Free plan")

            app.get_by_label("Workspace name").fill("browser")
            app.get_by_role("button", name="Create workspace").click()
            card = app.locator('[data-testid="workspace"][data-name="browser"]')
            expect(card).to_have_attribute("data-status", "ready", timeout=30_000)
            app.screenshot(path=str(tmp_path / "app.png"))
            # The IDE tab launches once inside the app; its own window is a second launch.
            card.get_by_role("button", name="Open browser").click()
            own_window = app.get_by_role("button", name="Open browser in its own window")
            expect(own_window).to_be_enabled(timeout=15_000)

            with context.expect_page(timeout=15_000) as opened:
                own_window.click()
            ide = opened.value
            ide.wait_for_url(re.compile(r"^http://[0-9a-f]{32}\.localhost:\d+/$"), timeout=15_000)
            ide.wait_for_load_state()
            # Landed on the placeholder IDE through the sidecar, on the workspace's own host
            # (<id>.localhost: its own site); the token is gone from the URL.
            host = re.fullmatch(r"http://([0-9a-f]{32}\.localhost):\d+/", ide.url)
            assert host is not None, ide.url
            assert "token" not in ide.url
            expect(ide).to_have_title("Coditect workspace")
            # *.localhost is a secure context: the Secure cookie works over http.
            assert ide.evaluate("window.isSecureContext") is True
            cookies = {c["name"]: c for c in context.cookies(ide.url)}
            session = cookies["__Host-coditect_ws_session"]
            assert session["httpOnly"] and session["secure"] and session["sameSite"] == "None"
            assert session["domain"] == host[1]  # host-only (no leading dot)
            # Partitioned, here under the workspace's own site (opened top-level).
            assert session.get("partitionKey") == f"http://{host[1]}"
            # The page's script cannot read the HttpOnly cookie.
            assert "coditect_ws_session" not in ide.evaluate("document.cookie")

            # The sidecar injected its input beacon into the page, and it ran.
            expect(ide.locator('script[src="/__coditect/activity.js"]')).to_have_count(1)
            expect(ide.locator("#status")).to_have_text("connected")
            assert ide.evaluate("window.__coditectActivity === true")

            # Opening the IDE was activity: the launch and the page load. Let their heartbeats
            # go out (the second one waits out an interval), then leave the tab untouched.
            state = stack.state_for_url(ide.url)
            wait_until(
                lambda: activity(stack, state)["sidecar_activity_heartbeats_total['ok']"] >= 1,
                10,
                "the launch's heartbeat",
            )
            time.sleep(1.5 * ACTIVITY_INTERVAL)
            opened_ide = activity(stack, state)
            assert opened_ide["sidecar_activity_signals_total['launch']"] == 2  # tab + window
            assert opened_ide["sidecar_activity_signals_total['navigation']"] == 1
            assert opened_ide["sidecar_activity_signals_total['input']"] == 0
            assert opened_ide["sidecar_last_activity_timestamp_seconds[]"] > 0

            ide.evaluate(RPC_PINGS)
            time.sleep(2 * ACTIVITY_INTERVAL + 0.5)
            expect(ide.locator("#log")).to_contain_text('echo: {"jsonrpc":"2.0","id":5,')
            # Untouched for two intervals while the socket was busy: no new last_active.
            assert activity(stack, state) == opened_ide

            # Typing is the user: a keydown, a beacon, a heartbeat with a later last_active.
            ide.locator("#msg").focus()
            ide.keyboard.type("x")
            wait_until(
                lambda: (
                    activity(stack, state)["sidecar_last_activity_timestamp_seconds[]"]
                    > opened_ide["sidecar_last_activity_timestamp_seconds[]"]
                ),
                10,
                "a heartbeat after typing",
            )
            typed = activity(stack, state)
            assert typed["sidecar_activity_signals_total['input']"] >= 1
            assert (
                typed["sidecar_activity_heartbeats_total['ok']"]
                > opened_ide["sidecar_activity_heartbeats_total['ok']"]
            )
            ide.evaluate("clearInterval(window.__rpc)")

            # The page's WebSocket echo demo, through the sidecar with the cookie.
            ide.fill("#msg", "hello from chromium")
            ide.click("button")
            expect(ide.locator("#log")).to_contain_text("echo: hello from chromium")
            ide.screenshot(path=str(tmp_path / "ide.png"))

            # Same origin, no cookie (a fresh context): the sidecar refuses it.
            stranger = browser.new_context().new_page()
            response = stranger.goto(ide.url)
            assert response is not None and response.status == 401
            assert errors == []
        finally:
            browser.close()
