"""The whole journey in Chromium on `make dev`: land, sign up on a paid plan through Checkout,
watch the plan activate, run two workspaces as IDE tabs, stop and start one, read usage and
billing, sign out. A second journey: free plan, Google sign-in, the plan's limit.

Every page is screenshotted at desktop and 360 px width and checked with axe-core. Printed:
the landing page's initial JavaScript (gzipped) and the dashboard's time to interactive.
"""

from __future__ import annotations

import gzip
import re
import uuid
from typing import Any

from tests.dataplane.conftest import PASSWORD, Stack
from tests.web.conftest import DESKTOP, Pages

LANDING_JS_BUDGET = 200 * 1024


def landing_js_gzipped(page: Any, url: str) -> int:
    """Bytes of JavaScript the landing page loads before any interaction, gzipped (level 9)."""
    scripts: list[Any] = []

    def collect(response: Any) -> None:
        if response.request.resource_type == "script":
            scripts.append(response)

    page.on("response", collect)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return sum(len(gzip.compress(r.body(), 9)) for r in scripts if r.ok)


def workspace(page: Any, name: str) -> Any:
    return page.locator(f'[data-testid="workspace"][data-name="{name}"]')


def ide_frame(page: Any, name: str) -> Any:
    handle = page.locator(f'iframe[title="IDE: {name}"]').element_handle(timeout=15_000)
    frame = handle.content_frame()
    assert frame is not None
    return frame


def wait_ide(page: Any, name: str) -> Any:
    """The tab's frame, once it shows the IDE through the workspace's sidecar."""
    deadline = 30_000
    frame = ide_frame(page, name)
    frame.wait_for_url(re.compile(r"^http://[a-z0-9]+\.localhost:\d+/$"), timeout=deadline)
    frame.wait_for_load_state()
    frame.locator("#status").wait_for(timeout=deadline)
    return frame


def test_paid_journey_through_checkout_tabs_usage_billing(web_stack: Stack, browser: Any):
    from playwright.sync_api import expect

    pages = Pages("paid")
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # Land: pricing from /api/plans; the initial JavaScript stays in budget.
    js = landing_js_gzipped(page, web_stack.url + "/")
    print(f"\nlanding page initial JavaScript: {js / 1024:.1f} KB gzipped")
    assert js <= LANDING_JS_BUDGET
    expect(page.get_by_role("heading", level=1)).to_contain_text("browser IDE")
    expect(page.get_by_test_id("plan-pro")).to_contain_text("$99")
    expect(page.get_by_test_id("plan-free")).to_contain_text("1 running workspace")
    pages.check(page, "landing")

    # Sign up on Pro: the password rules tick as they are met; a server error lands on its field.
    page.get_by_test_id("plan-pro").get_by_role("link", name="Choose Pro").click()
    expect(page).to_have_url(re.compile(r"/signup\?plan=pro$"))
    expect(page.get_by_role("radio", name="Pro")).to_be_checked()
    email = f"pro-{uuid.uuid4().hex[:8]}@example.com"
    page.get_by_label("Email").fill(email)
    rule = page.locator('[data-rule="length"]')
    page.get_by_label("Password").fill("short")
    expect(rule).to_have_attribute("data-met", "false")
    page.get_by_label("Password").fill(PASSWORD)
    expect(rule).to_have_attribute("data-met", "true")
    pages.check(page, "signup")
    page.get_by_role("button", name="Create account and pay for Pro").click()

    # Stripe Checkout (the local stand-in), then back to the dashboard: activating, then active.
    page.wait_for_url(re.compile(r"/checkout/cs_test_"), timeout=20_000)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Coditect Pro")
    page.get_by_role("button", name=re.compile("Pay with 4242")).click()
    page.wait_for_url(re.compile(r"/dashboard$"), timeout=20_000)
    assert "oauth_code" not in page.url and "token" not in page.url
    expect(page.get_by_test_id("activated")).to_contain_text("Pro plan is active", timeout=20_000)
    expect(page.get_by_test_id("current-plan")).to_have_text("Pro plan")
    expect(page.get_by_test_id("empty")).to_be_visible()
    pages.check(page, "dashboard-empty")

    # Two workspaces, each watched to ready through its progress.
    for name in ("alpha", "beta"):
        page.get_by_label("Workspace name").fill(name)
        page.get_by_role("button", name="Create workspace").click()
        expect(workspace(page, name)).to_be_visible(timeout=15_000)
        expect(page.get_by_label("Workspace name")).to_have_value("", timeout=15_000)
    for name in ("alpha", "beta"):
        expect(workspace(page, name)).to_have_attribute("data-status", "ready", timeout=30_000)
    expect(page.get_by_test_id("plan-usage")).to_contain_text("2 of 10 running")
    pages.check(page, "dashboard")

    # Both as IDE tabs: each frame shows the IDE through its sidecar; switching keeps them.
    workspace(page, "alpha").get_by_role("button", name="Open alpha").click()
    expect(page).to_have_url(re.compile(r"/ide$"))
    alpha = wait_ide(page, "alpha")
    page.get_by_role("link", name="Workspaces").click()
    workspace(page, "beta").get_by_role("button", name="Open beta").click()
    beta = wait_ide(page, "beta")
    assert alpha.url != beta.url  # two sidecars, two origins
    expect(beta.locator("#status")).to_have_text("connected")
    alpha.evaluate("window.__keptAlive = 'alpha'")
    page.get_by_role("tab", name="alpha").click()
    expect(page.locator('iframe[title="IDE: alpha"]')).to_be_visible()
    expect(page.locator('iframe[title="IDE: beta"]')).to_be_hidden()
    assert ide_frame(page, "alpha").evaluate("window.__keptAlive") == "alpha"  # not reloaded
    expect(alpha.locator("#status")).to_have_text("connected")
    assert all("token" not in f.url for f in page.frames)
    pages.check(page, "ide")

    # Stop alpha on the dashboard: its tab says so and offers to start it again.
    page.get_by_role("link", name="Workspaces").click()
    workspace(page, "alpha").get_by_role("button", name="Stop alpha").click()
    expect(workspace(page, "alpha")).to_have_attribute("data-status", "stopped", timeout=30_000)
    page.get_by_role("link", name=re.compile(r"^IDE")).click()
    page.get_by_role("tab", name=re.compile("alpha")).click()
    stopped = page.get_by_test_id("tab-stopped")
    expect(stopped).to_contain_text("alpha has stopped")
    expect(stopped).to_contain_text("files are kept")
    pages.check(page, "ide-stopped")
    stopped.get_by_role("button", name="Start alpha").click()
    alpha = wait_ide(page, "alpha")
    expect(alpha.locator("#status")).to_have_text("connected")
    assert alpha.evaluate("window.__keptAlive") is None  # a new session in a new frame
    expect(ide_frame(page, "beta").locator("#status")).to_have_text("connected")

    # Usage and billing show the plan and the counts.
    page.get_by_role("link", name="Usage").click()
    expect(page.get_by_test_id("usage-running-value")).to_have_text("2 of 10 running")
    expect(page.get_by_test_id("usage-storage-value")).to_have_text("20 of 100 GB")
    pages.check(page, "usage")
    page.get_by_role("link", name="Billing").click()
    expect(page.get_by_test_id("billing-plan")).to_have_text("Pro")
    expect(page.get_by_test_id("billing-status")).to_have_text("Active")
    expect(page.get_by_test_id("invoices")).to_contain_text("$99.00")
    expect(page.get_by_test_id("next-invoice")).to_contain_text("$99.00")
    pages.check(page, "billing")
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_test_id("settings-email")).to_have_text(email)
    pages.check(page, "settings")
    page.get_by_role("link", name="Terms").click()
    pages.check(page, "terms")
    page.go_back()
    page.get_by_role("link", name="Privacy").click()
    pages.check(page, "privacy")
    page.go_back()

    # The dashboard's time to interactive: after an in-app navigation and after a full load.
    page.get_by_role("link", name="Billing").click()
    page.evaluate("window.__t0 = performance.now()")
    page.get_by_role("link", name="Workspaces").click()
    expect(workspace(page, "beta")).to_be_visible()
    expect(page.get_by_role("button", name="Create workspace")).to_be_enabled()
    in_app = page.evaluate("performance.now() - window.__t0")
    page.reload()
    expect(workspace(page, "beta").get_by_role("button", name="Open beta")).to_be_enabled()
    full = page.evaluate("performance.now()")
    print(
        f"dashboard interactive: {in_app:.0f} ms after in-app navigation, "
        f"{full:.0f} ms after a full load"
    )
    # The target (1 s) is for navigation inside the app; a full load also fetches the code and
    # renews the session first (printed, not asserted: it follows the shared machine's load).
    assert in_app < 1000

    # Sign out: back on the landing page, and the dashboard needs a session again.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(web_stack.url + "/")
    page.goto(web_stack.url + "/dashboard")
    expect(page).to_have_url(re.compile(r"/signin$"))
    pages.check(page, "signin")
    assert errors == []
    context.close()


def test_free_plan_google_sign_in_and_the_limit(web_stack: Stack, browser: Any):
    from playwright.sync_api import expect

    pages = Pages("free")
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(web_stack.url + "/signin")
    page.get_by_role("link", name="Continue with Google").click()
    # The Google stand-in's page: pick a person.
    page.get_by_role("button", name="grace@example.com").click()
    page.wait_for_url(re.compile(r"/dashboard$"), timeout=20_000)
    assert "oauth_code" not in page.url
    history = page.evaluate("history.length")
    assert history >= 1
    expect(page.get_by_test_id("current-plan")).to_have_text("Free plan")

    page.get_by_label("Workspace name").fill("only-one")
    page.get_by_role("button", name="Create workspace").click()
    expect(workspace(page, "only-one")).to_have_attribute("data-status", "ready", timeout=30_000)
    limit = page.get_by_test_id("limit-message")
    expect(limit).to_contain_text("Your Free plan allows 1 running workspace")
    expect(page.get_by_role("button", name="Create workspace")).to_be_disabled()
    pages.check(page, "dashboard-limit")
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_text("connected", exact=True)).to_be_visible()
    page.get_by_role("link", name="Billing").click()
    expect(page.get_by_test_id("no-invoices")).to_be_visible()
    expect(page.get_by_role("button", name="Upgrade to Starter")).to_be_enabled()
    pages.check(page, "billing-free")
    assert errors == []
    context.close()
