"""The app page's side of sign-in in Chromium, on the local stack with its sign-in stand-ins.

The page's same-origin fetch carries the binding cookie to /exchange (a real browser's cookie
rules: SameSite=Lax, path-scoped, Secure on 127.0.0.1); a code from someone else's sign-in opened
in another browser is refused with a readable message; a signed-in owner links Google from the
page, is mailed, and can then sign in with it. Skipped only when Chromium or Playwright is
missing and CODITECT_REQUIRE_BROWSER is unset (as tests/dataplane/test_browser.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devstack.stack import LocalStack
from shared.mail import outbox_directory, read_outbox
from tests.dataplane.test_browser import ARGS, CHROMIUM, _require_browser
from tests.oauth.conftest import query
from tests.oauth.test_devstack import TIMEOUT, begin, run_stack
from tests.oauth.test_devstack import clean_env as clean_env  # the fixture, used by name


@pytest.fixture
def stack(tmp_path: Any, clean_env: Any) -> Iterator[LocalStack]:
    local = run_stack(tmp_path)
    yield local
    local.stop()


def attackers_code(stack: LocalStack) -> str:
    """A GitHub sign-in finished outside any browser, its code kept instead of exchanged."""
    authorize, cookie = begin(stack, "github")
    page = requests.get(authorize, timeout=TIMEOUT)
    action = re.search(r'action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    chosen = requests.post(
        authorize.split("/login/")[0] + action,
        data={"user": "1002"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    back = requests.get(
        chosen.headers["Location"], headers={"Cookie": cookie}, allow_redirects=False,
        timeout=TIMEOUT,
    )  # fmt: skip
    return query(back.headers["Location"])["oauth_code"]


def test_sign_in_binding_and_linking_in_the_app_page(stack: LocalStack):
    _require_browser()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            # Ada signs up with GitHub: the code is exchanged by the page, with its binding.
            owner = browser.new_context().new_page()
            errors: list[str] = []
            owner.on("pageerror", lambda error: errors.append(str(error)))
            owner.goto(stack.url + "/")
            owner.click("#github")
            owner.click('button[value="1001"]')
            expect(owner.locator("#who")).to_have_text("ada@example.com")
            assert "oauth_code" not in owner.url
            expect(owner.locator("#identities")).to_have_text("github")

            # Someone else's code, opened in another browser: refused, nobody signed in.
            victim = browser.new_context().new_page()
            victim.goto(f"{stack.url}/?oauth_code={attackers_code(stack)}&provider=github")
            expect(victim.locator("#message")).to_contain_text("started in another browser")
            expect(victim.locator("#signed-in")).to_be_hidden()

            # Google for Grace's address is not linked to Ada by itself ...
            owner.click("#link-google")
            owner.click('button[value="grace@example.com"]')
            expect(owner.locator("#notice")).to_have_text("Sign-in method added: google")
            expect(owner.locator("#identities")).to_have_text("github, google")
            mails = read_outbox(outbox_directory(stack.settings.data_dir))
            assert [(m["To"], m["Subject"]) for m in mails] == [
                ("ada@example.com", "Google sign-in was added to your Coditect account")
            ]

            # ... and Google now signs in to Ada's account, in a fresh browser.
            fresh = browser.new_context().new_page()
            fresh.goto(stack.url + "/")
            fresh.click("#google")
            fresh.click('button[value="grace@example.com"]')
            expect(fresh.locator("#who")).to_have_text("ada@example.com")
            assert errors == []
        finally:
            browser.close()
