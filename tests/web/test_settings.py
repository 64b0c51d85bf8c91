"""Settings in Chromium on `make dev`: change the password and sign in with the new one; create
a personal API token, use it against the API, revoke it and see it refused; sign out everywhere
(another browser's session ends too); export the data and delete the account. A second walk:
a password reset through the mailed link.

Every page is screenshotted at desktop and 360 px width and checked with axe-core.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from shared.mail import outbox_directory, read_outbox
from tests.dataplane.conftest import PASSWORD, Stack
from tests.web.conftest import DESKTOP, Pages

NEW_PASSWORD = "a brand new passphrase"


def sign_up(page: Any, url: str, email: str) -> None:
    page.goto(url + "/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create free account").click()
    page.wait_for_url(re.compile(r"/dashboard$"), timeout=20_000)


def sign_in(page: Any, url: str, email: str, password: str) -> None:
    page.goto(url + "/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def open_settings(page: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_role("link", name="Settings").click()
    expect(page).to_have_url(re.compile(r"/settings$"))
    expect(page.get_by_test_id("session")).not_to_have_count(0)  # every section has loaded


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_settings_password_token_sessions_export_and_deletion(web_stack: Stack, browser: Any):
    from playwright.sync_api import expect

    pages = Pages("settings")
    url = web_stack.url
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    email = f"settings-{uuid.uuid4().hex[:8]}@example.com"
    sign_up(page, url, email)
    open_settings(page)
    expect(page.get_by_test_id("settings-email")).to_have_text(email)
    pages.check(page, "settings")

    # The profile's name: saved, and still there after a reload.
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Lovelace")
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_text("Name saved.")).to_be_visible()
    page.reload()
    expect(page.get_by_label("First name")).to_have_value("Ada", timeout=20_000)
    expect(page.get_by_label("Last name")).to_have_value("Lovelace")

    # Change the password: a wrong current one is refused on its field; the rules tick.
    current = page.get_by_label("Current password")
    new = page.get_by_label("New password")
    current.fill("not my password")
    new.fill("short")
    expect(page.locator('[data-rule="length"]')).to_have_attribute("data-met", "false")
    new.fill(NEW_PASSWORD)
    expect(page.locator('[data-rule="length"]')).to_have_attribute("data-met", "true")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("That is not your current password.")).to_be_visible()
    expect(current).to_have_attribute("aria-invalid", "true")
    current.fill(PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_test_id("password-changed")).to_be_visible()
    # This session stays signed in after the change.
    page.get_by_role("link", name="Usage").click()
    expect(page.get_by_test_id("usage-llm-value")).to_have_text("0 of 100 requests")
    pages.check(page, "usage")

    # Sign out; the old password no longer works, the new one does.
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(url + "/")
    sign_in(page, url, email, PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("incorrect")
    sign_in(page, url, email, NEW_PASSWORD)
    page.wait_for_url(re.compile(r"/dashboard$"), timeout=20_000)

    # A personal API token: shown once, works against the API, cannot manage the account.
    open_settings(page)
    page.get_by_label("Token name").fill("ci script")
    page.get_by_label("Access").select_option("read")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_test_id("token-secret").input_value()
    assert secret.startswith("cdt_pat_")
    pages.check(page, "settings-token")
    me = httpx.get(url + "/api/auth/me", headers=bearer(secret), timeout=10)
    assert me.status_code == 200 and me.json()["user"]["email"] == email
    sessions_by_token = httpx.get(url + "/api/auth/sessions", headers=bearer(secret), timeout=10)
    assert sessions_by_token.status_code == 403
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_test_id("token-secret")).to_have_count(0)
    page.reload()  # the list as the server has it now: the token's use is recorded
    token = page.locator('[data-testid="token"][data-name="ci script"]')
    expect(token).to_contain_text(secret[:12])
    expect(token).to_contain_text("last used just now")
    assert secret not in page.content()
    token.get_by_role("button", name="Revoke ci script").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Revoke token").click()
    expect(page.get_by_test_id("no-tokens")).to_be_visible()
    refused = httpx.get(url + "/api/auth/me", headers=bearer(secret), timeout=10)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_token"

    # Another browser signs in: both sessions are listed; "sign out everywhere" ends both.
    other = browser.new_context(viewport=DESKTOP)
    phone = other.new_page()
    sign_in(phone, url, email, NEW_PASSWORD)
    phone.wait_for_url(re.compile(r"/dashboard$"), timeout=20_000)
    other_refresh = phone.evaluate("sessionStorage.getItem('coditect_refresh')")
    assert other_refresh
    page.reload()
    expect(page.get_by_test_id("session")).to_have_count(2)
    expect(page.locator('[data-testid="session"][data-current="true"]')).to_contain_text(
        "this browser"
    )
    pages.check(page, "settings-sessions")
    page.get_by_role("button", name="Sign out everywhere").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("including this one")
    dialog.get_by_role("button", name="Sign out everywhere").click()
    expect(page).to_have_url(re.compile(r"/signin$"))
    expect(page.get_by_test_id("notice")).to_contain_text("signed out everywhere")
    renewed = httpx.post(
        url + "/api/auth/refresh", json={"refresh_token": other_refresh}, timeout=10
    )
    assert renewed.status_code == 401
    phone.reload()
    expect(phone).to_have_url(re.compile(r"/signin$"))
    other.close()

    # Export the data, then delete the account (the dialog names it; the password confirms).
    sign_in(page, url, email, NEW_PASSWORD)
    page.wait_for_url(re.compile(r"/dashboard$"), timeout=20_000)
    open_settings(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download my data").click()
    assert download.value.suggested_filename == "coditect-account.json"
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["user"]["email"] == email and exported["has_password"] is True
    page.get_by_role("button", name="Delete account…").click()
    dialog = page.get_by_role("dialog", name=f"Delete the account {email}?")
    expect(dialog).to_be_visible()
    pages.check(page, "settings-delete")
    dialog.get_by_label("Your password").fill("wrong password!")
    dialog.get_by_role("button", name="Delete account").click()
    expect(dialog.get_by_text("That is not your password.")).to_be_visible()
    dialog.get_by_label("Your password").fill(NEW_PASSWORD)
    dialog.get_by_role("button", name="Delete account").click()
    expect(page).to_have_url(url + "/")
    expect(page.get_by_test_id("notice")).to_contain_text(f"The account {email} was deleted")
    gone = httpx.post(
        url + "/api/auth/login", json={"email": email, "password": NEW_PASSWORD}, timeout=10
    )
    assert gone.status_code == 401
    assert errors == []
    context.close()


def reset_token_for(stack: Stack, email: str) -> str:
    """The token of the newest reset link mailed to ``email`` (the local outbox)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for message in reversed(read_outbox(outbox_directory(stack.data_dir))):
            if message["To"] == email and "Reset" in str(message["Subject"]):
                found = re.search(r"#reset_password=([\w-]+)", message.get_content())
                assert found
                return found.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no reset mail to {email}")


def test_password_reset_through_the_mailed_link(web_stack: Stack, browser: Any):
    from playwright.sync_api import expect

    pages = Pages("reset")
    url = web_stack.url
    email = f"reset-{uuid.uuid4().hex[:8]}@example.com"
    registered = httpx.post(
        url + "/api/auth/register", json={"email": email, "password": PASSWORD}, timeout=10
    )
    assert registered.status_code == 201
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(url + "/signin")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page).to_have_url(re.compile(r"/reset-password$"))
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_test_id("reset-sent")).to_contain_text(email)
    pages.check(page, "request")

    # The mailed link: its token leaves the address bar at once and is never put back.
    token = reset_token_for(web_stack, email)
    page.goto(f"{url}/#reset_password={token}")
    expect(page).to_have_url(url + "/reset-password")
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    assert token not in page.url
    assert token not in page.evaluate("JSON.stringify(history.state) + location.href")
    pages.check(page, "new-password")
    page.get_by_role("textbox", name="New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set new password").click()
    expect(page).to_have_url(re.compile(r"/signin$"))
    expect(page.get_by_test_id("notice")).to_contain_text("Sign in with the new password")

    # The link works once; the new password signs in.
    used = httpx.post(
        url + "/api/auth/password/reset/confirm",
        json={"token": token, "new_password": "yet another passphrase"},
        timeout=10,
    )
    assert used.status_code == 400 and used.json()["error"]["code"] == "invalid_token"
    sign_in(page, url, email, NEW_PASSWORD)
    page.wait_for_url(re.compile(r"/dashboard$"), timeout=20_000)
    assert errors == []
    context.close()


def test_connected_accounts_link_and_unlink(web_stack: Stack, browser: Any):
    from playwright.sync_api import expect

    pages = Pages("connections")
    url = web_stack.url
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # A GitHub-only account (the GitHub stand-in's page: pick a person).
    page.goto(url + "/signin")
    page.get_by_role("link", name="Continue with GitHub").click()
    page.get_by_role("button", name="octo-ada").click()
    page.wait_for_url(re.compile(r"/dashboard$"), timeout=20_000)
    open_settings(page)
    expect(page.get_by_role("button", name="Set password")).to_be_visible()

    # Its only way to sign in cannot be unlinked: the server's message is shown.
    page.get_by_role("button", name="Disconnect GitHub (ada@example.com)").click()
    expect(page.get_by_test_id("connections-error")).to_contain_text(
        "This is the account's only way to sign in; set a password first."
    )
    pages.check(page, "settings-refused")

    # Link Google through its page; the return lands back in Settings.
    page.get_by_role("button", name="Connect Google").click()
    page.get_by_role("button", name="ada@example.com").click()
    page.wait_for_url(re.compile(r"/settings$"), timeout=20_000)
    assert "oauth" not in page.url
    # The signed-in code loads after the session is renewed: slower on a busy machine.
    expect(page.get_by_test_id("notice")).to_contain_text("Google is now connected", timeout=20_000)
    expect(page.get_by_test_id("connection-google")).to_contain_text("connected")
    pages.check(page, "settings-linked")

    # With Google linked, GitHub can go.
    page.get_by_role("button", name="Disconnect GitHub (ada@example.com)").click()
    expect(page.get_by_test_id("connection-github")).to_contain_text("not connected")
    expect(page.get_by_role("button", name="Connect GitHub")).to_be_visible()
    assert errors == []
    context.close()
