"""Login CSRF: the one-time code works only in the browser that started the sign-in.

An attacker who completes a sign-in in their own browser and hands the victim a link carrying
``?oauth_code=`` must not sign the victim into the attacker's account. Each werkzeug client here
is one browser with its own cookie jar, against the real functions and the OIDC stand-in.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from werkzeug.test import Client

from shared.oauth.cookie import BINDING_COOKIE_NAME, BINDING_PATH
from tests.oauth.conftest import dump_store, path_and_query, sign_in_at_google
from tests.oauth.test_google import exchange, finish, refused, start


def binding_cookie(browser: Any) -> str | None:
    cookie = browser.get_cookie(BINDING_COOKIE_NAME, domain="localhost", path=BINDING_PATH)
    return cookie.value if cookie else None


def set_cookies(response: Any) -> list[str]:
    return response.headers.getlist("Set-Cookie")


def test_start_sets_an_httponly_lax_binding_cookie_scoped_to_the_oauth_paths(api, oauth):
    response = api.get("/api/auth/oauth/google/start")
    [binding] = [c for c in set_cookies(response) if c.startswith(BINDING_COOKIE_NAME + "=")]
    for attribute in ("HttpOnly", "SameSite=Lax", f"Path={BINDING_PATH};", "Max-Age=660"):
        assert attribute in binding + ";"
    assert "Secure" not in binding  # http://testserver: a Secure cookie would never come back
    assert len(binding_cookie(api)) >= 43
    # a fresh value for each sign-in started
    first = binding_cookie(api)
    start(api)
    assert binding_cookie(api) != first


def test_binding_cookie_is_secure_on_an_https_origin(oauth):
    oauth.settings = dataclasses.replace(oauth.settings, public_url="https://coditect.example")
    [_, binding] = oauth.start("google").cookies
    assert binding.startswith(BINDING_COOKIE_NAME + "=") and "; Secure" in binding


def test_a_code_carried_to_another_browser_is_refused_and_burnt(api, oauth, services):
    attacker = api  # completes the sign-in with their own Google account ...
    landed = finish(attacker, sign_in_at_google(start(attacker), "g-new"))
    victim = Client(api.application)  # ... and sends the victim the app link with the code
    before = dump_store(services)
    response = exchange(victim, landed["oauth_code"])
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "code_binding_mismatch"
    assert "access_token" not in response.get_data(as_text=True)
    # nothing but the code's removal: no session, no audit event
    after = dump_store(services)
    assert set(after) < set(before) and len(before) - len(after) == 2
    # burnt: not even the browser it was bound to can use it now
    late = exchange(attacker, landed["oauth_code"])
    assert late.status_code == 400 and late.get_json()["error"]["code"] == "invalid_code"


def test_a_victim_with_a_binding_of_their_own_is_refused_too(api, oauth):
    landed = finish(api, sign_in_at_google(start(api), "g-new"))
    victim = Client(api.application)
    start(victim)  # the victim began a sign-in of their own: a binding cookie, just not this one
    assert binding_cookie(victim) and binding_cookie(victim) != binding_cookie(api)
    response = exchange(victim, landed["oauth_code"])
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "code_binding_mismatch"


def test_the_browser_that_started_exchanges_and_its_binding_is_cleared(api, oauth):
    landed = finish(api, sign_in_at_google(start(api), "g-new"))
    assert binding_cookie(api)
    response = exchange(api, landed["oauth_code"])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["access_token"]
    [cleared] = set_cookies(response)
    assert cleared.startswith(BINDING_COOKIE_NAME + "=;") and "Max-Age=0" in cleared
    assert binding_cookie(api) is None


def test_a_callback_without_the_binding_cookie_is_refused(api, oauth, services):
    callback = sign_in_at_google(start(api), "g-new")
    api.delete_cookie(BINDING_COOKIE_NAME, domain="localhost", path=BINDING_PATH)
    refused(api, services, path_and_query(callback), "missing_binding")


def test_a_code_whose_binding_cookie_was_replaced_is_refused(api, oauth):
    landed = finish(api, sign_in_at_google(start(api), "g-new"))
    api.set_cookie(BINDING_COOKIE_NAME, "x" * 43, domain="localhost", path=BINDING_PATH)
    response = exchange(api, landed["oauth_code"])
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "code_binding_mismatch"
