"""The workspace host as its own site, in Chromium, on `make dev`.

- The IDE (the placeholder IDE, which guards its socket with Theia's rules) works top-level and
  inside an iframe of a page on the app's origin (the stack's ``127.0.0.1:<port>``), launched
  there: the session cookie and the IDE's own cookie live in the app's partition.
- Two workspaces opened side by side in one browser stay signed in: each host keeps its cookie.
- A page on another site (``evil.localhost``, a real server) can neither frame the IDE with the
  user's session, nor POST to it (a top-level form POST does carry the cookie: the sidecar
  refuses it), nor open its WebSocket.

The app's own IDE tabs are built in web/; here a document on the app's origin stands in for
them: the stack's ``/healthz`` (no CSP of its own), given the iframe by script as an IDE tab
would create it. (A page Playwright makes up has no network address, and Chromium's Local
Network Access checks then block it from framing a loopback host.)
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import free_port
from tests.dataplane.conftest import Stack
from tests.dataplane.test_browser import ARGS, CHROMIUM, _require_browser

SESSION = "__Host-coditect_ws_session"
SOCKET_RESULT = """(url) => new Promise((done) => {
  const ws = new WebSocket(url);
  ws.onopen = () => { ws.close(); done("open"); };
  ws.onerror = () => done("error");
  setTimeout(() => done("timeout"), 5000);
})"""


class _Evil(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>elsewhere</title><body><h1>another site</h1></body>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def evil_origin() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Evil)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://evil.localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def ready_workspace(stack: Stack, name: str) -> tuple[dict[str, str], str, str]:
    owner = stack.register()
    wid = stack.create(owner, name)
    return owner, wid, stack.wait_status(owner, wid, "ready")["url"]


def test_framed_by_the_app_side_by_side_and_not_by_another_site(
    stack: Stack, evil_origin: str
) -> None:
    _require_browser()
    from playwright.sync_api import expect, sync_playwright

    # Two workspaces (the free plan runs one per user: two users, one browser).
    alice, a_id, a_url = ready_workspace(stack, "alice")
    bob, b_id, b_url = ready_workspace(stack, "bob")
    assert a_url != b_url and a_url.startswith(f"http://{a_id}.localhost:")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = browser.new_context()
            console: list[str] = []
            context.on("console", lambda message: console.append(message.text))

            # -- top-level, two workspaces side by side --------------------------------------
            tab_a = context.new_page()
            tab_a.goto(stack.launch(alice, a_id))
            expect(tab_a.locator("#status")).to_have_text("connected")
            tab_b = context.new_page()
            tab_b.goto(stack.launch(bob, b_id))
            expect(tab_b.locator("#status")).to_have_text("connected")
            for tab, url in ((tab_a, a_url), (tab_b, b_url)):
                response = tab.reload()  # still signed in: the other did not replace its cookie
                assert response is not None and response.status == 200, url
                expect(tab.locator("#status")).to_have_text("connected")
                tab.fill("#msg", f"hello {url}")
                tab.click("button")
                expect(tab.locator("#log")).to_contain_text(f"echo: hello {url}")
            sessions = [c for c in context.cookies() if c["name"] == SESSION]
            assert sorted(c["domain"] for c in sessions) == sorted(
                [f"{a_id}.localhost", f"{b_id}.localhost"]
            )

            # -- framed by a page on the app's origin, launched inside the frame --------------
            app_tab = context.new_page()
            app_tab.goto(f"{stack.url}/healthz")
            app_tab.evaluate(
                """(src) => { const f = document.createElement("iframe"); f.id = "ide";
                f.src = src; f.width = 900; f.height = 500; document.body.appendChild(f); }""",
                stack.launch(alice, a_id),
            )
            frame = app_tab.frame_locator("#ide")
            expect(frame.locator("h1")).to_have_text("Coditect workspace")
            # Theia's rule holds inside the frame: its token cookie reached the socket.
            expect(frame.locator("#status")).to_have_text("connected")
            frame.locator("#msg").fill("from the app's tab")
            frame.locator("button").click()
            expect(frame.locator("#log")).to_contain_text("echo: from the app's tab")
            framed = [
                c for c in context.cookies(a_url) if c.get("partitionKey") == "http://127.0.0.1"
            ]
            assert {c["name"] for c in framed} == {SESSION, "theia-connection-token"}
            assert all(c["sameSite"] == "None" and c["secure"] for c in framed)

            # -- another site ---------------------------------------------------------------
            evil = context.new_page()
            navigations: list[tuple[str, int]] = []
            evil.on("response", lambda r: navigations.append((r.url, r.status)))
            evil.goto(evil_origin + "/")

            # It frames the IDE: its partition holds no session (401), and the browser refuses
            # to render the frame anyway (frame-ancestors names the app only).
            evil.evaluate(
                """(src) => { const f = document.createElement("iframe"); f.src = src;
                document.body.appendChild(f); }""",
                a_url + "/",
            )
            evil.wait_for_timeout(1000)
            assert (a_url + "/", 401) in navigations
            assert any("frame-ancestors" in text for text in console), console
            assert len(evil.frames) == 2
            assert "Coditect workspace" not in (evil.frames[1].content() or "")

            # Its page opens the IDE's WebSocket: refused (no session in its partition, and a
            # foreign Origin).
            socket_url = a_url.replace("http://", "ws://") + "/ws"
            assert evil.evaluate(SOCKET_RESULT, socket_url) == "error"

            # A top-level form POST does carry the user's top-level session cookie (SameSite=
            # None); the sidecar refuses it as cross-site.
            with evil.expect_navigation() as posted:
                evil.evaluate(
                    """(action) => { const f = document.createElement("form");
                    f.method = "POST"; f.action = action; document.body.appendChild(f);
                    f.submit(); }""",
                    a_url + "/__coditect/activity",
                )
            response = posted.value
            assert response is not None and response.status == 403
            assert response.json()["error"]["code"] == "forbidden_origin"
            request_cookie = response.request.header_value("cookie") or ""
            assert SESSION in request_cookie  # the browser sent it; the sidecar said no

            # The user's own tabs are unaffected.
            response = tab_a.reload()
            assert response is not None and response.status == 200
        finally:
            browser.close()
