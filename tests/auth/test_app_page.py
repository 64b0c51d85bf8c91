"""The web app's side of email verification, in a real browser on the local stack's functions.

Chromium through Playwright, as in tests/dataplane/test_browser.py (skipped only when either is
missing and CODITECT_REQUIRE_BROWSER is unset). The stack runs in-process without its heavier
parts (no stand-ins are needed: sign-up, mail and verification are all in the auth function).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devstack.stack import LocalStack
from shared.mail import outbox_directory, read_outbox
from shared.settings import Settings
from tests.auth.mailbox import link_of
from tests.conftest import free_port
from tests.dataplane.test_browser import ARGS, CHROMIUM, _require_browser

PASSWORD = "correct horse battery"


@pytest.fixture
def stack(tmp_path: Any) -> Iterator[LocalStack]:
    port = free_port()
    settings = Settings(data_dir=str(tmp_path / "data"), public_url=f"http://127.0.0.1:{port}")
    running = LocalStack(settings, port=port, components=[])
    running.start()
    yield running
    running.stop()


def newest_link(stack: LocalStack) -> str:
    messages = read_outbox(outbox_directory(stack.settings.data_dir))
    origin, token = link_of(messages[-1])
    return f"{origin}/#verify_email={token}"


def test_the_mailed_link_verifies_in_the_web_app(stack: LocalStack):
    _require_browser()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            signed_up = browser.new_context()
            app = signed_up.new_page()
            errors: list[str] = []
            app.on("pageerror", lambda error: errors.append(str(error)))
            # Sign up: Settings shows the email unverified and offers to resend.
            app.goto(stack.url + "/signup")
            app.get_by_label("Email").fill("ada@example.com")
            app.get_by_label("Password").fill(PASSWORD)
            app.get_by_role("button", name="Create free account").click()
            expect(app.get_by_test_id("current-plan")).to_have_text("Free plan")
            app.get_by_role("link", name="Settings").click()
            expect(app.get_by_test_id("settings-email")).to_have_text("ada@example.com")
            expect(app.get_by_text("not verified", exact=True)).to_be_visible()
            app.get_by_role("button", name="Resend verification mail").click()
            expect(app.get_by_text("Verification mail sent")).to_be_visible()
            link = newest_link(stack)

            # The link opened in a tab with no session: the app asks to sign in first, and the
            # token has already left the address bar.
            fresh = browser.new_context().new_page()
            fresh.on("pageerror", lambda error: errors.append(str(error)))
            fresh.goto(link)
            notice = fresh.get_by_test_id("notice")
            expect(notice).to_have_text("Sign in to finish verifying your email.")
            assert fresh.url == stack.url + "/" and "verify_email" not in fresh.url
            fresh.get_by_role("link", name="Sign in").first.click()
            fresh.get_by_label("Email").fill("ada@example.com")
            fresh.get_by_label("Password").fill(PASSWORD)
            fresh.get_by_role("button", name="Sign in", exact=True).click()
            expect(fresh.get_by_test_id("notice")).to_have_text("Email verified.")
            fresh.get_by_role("link", name="Settings").click()
            expect(fresh.get_by_text("verified", exact=True)).to_be_visible()
            # the history entry the link made was replaced: going back does not find the token
            assert "verify_email" not in fresh.evaluate("location.href")

            # The same link again, in the signed-up tab: single use.
            app.goto(link)
            expect(app.get_by_test_id("notice")).to_contain_text("Email not verified")
            assert "verify_email" not in app.url
            app.goto(stack.url + "/settings")
            expect(app.get_by_text("verified", exact=True)).to_be_visible()  # by the other tab
            assert errors == []
        finally:
            browser.close()
