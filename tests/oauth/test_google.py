"""Sign in with Google end to end: the real functions, a real OIDC server, the browser's steps."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.oauth.common import Http
from shared.oauth.cookie import COOKIE_NAME, pkce_challenge
from shared.oauth.errors import OAuthFailure
from shared.oauth.outcomes import Completed, SignIn, complete_sign_in
from shared.store.keys import INDEXES
from tests.conftest import bearer, register
from tests.oauth.conftest import (
    GOOGLE_CLIENT_ID,
    ID_TOKEN_SECONDS,
    deny_at_google,
    dump_store,
    path_and_query,
    query,
    sign_in_at_google,
)

CALLBACK = "/api/auth/oauth/google/callback"


def start(api: Any) -> str:
    response = api.get("/api/auth/oauth/google/start")
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def state_cookie(api: Any) -> str | None:
    cookie = api.get_cookie(COOKIE_NAME, domain="localhost", path=CALLBACK)
    return cookie.value if cookie else None


def cookie_field(api: Any, name: str) -> str:
    """A field of the browser's state cookie (its payload is signed, not secret)."""
    payload = state_cookie(api).partition(".")[0]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))[name]


def cookie_state(api: Any) -> str:
    return cookie_field(api, "s")


def finish(api: Any, callback_url: str) -> dict[str, str]:
    """Follow the provider's redirect into our callback; returns the app redirect's query."""
    response = api.get(path_and_query(callback_url))
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("http://testserver/?")
    assert "eyJ" not in location  # no token of any kind in the query string
    assert response.headers["Referrer-Policy"] == "no-referrer"
    return query(location)


def exchange(api: Any, code: str) -> Any:
    return api.post("/api/auth/oauth/exchange", json={"code": code})


def google_sign_in(api: Any, sub: str) -> dict[str, Any]:
    landed = finish(api, sign_in_at_google(start(api), sub))
    assert "oauth_code" in landed, landed
    response = exchange(api, landed["oauth_code"])
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_start_redirects_with_state_pkce_nonce_and_a_locked_down_cookie(api, oauth, oidc_server):
    response = api.get("/api/auth/oauth/google/start")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(f"{oidc_server}/oauth2/authorize?")
    params = query(location)
    assert params["client_id"] == GOOGLE_CLIENT_ID
    assert params["redirect_uri"] == "http://testserver/api/auth/oauth/google/callback"
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43 and len(params["nonce"]) >= 32
    assert "openid" in params["scope"].split() and "email" in params["scope"].split()
    cookie = response.headers["Set-Cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=Lax", f"Path={CALLBACK}", "Max-Age=600"):
        assert attribute in cookie
    # the cookie holds this flow's state (signed), so the callback can bind it to the browser
    assert cookie_state(api) == params["state"]
    # and the PKCE verifier whose S256 is the challenge sent (RFC 7636, 43+ characters)
    verifier = cookie_field(api, "v")
    assert len(verifier) >= 43 and pkce_challenge(verifier) == params["code_challenge"]


def test_new_user_signs_up_with_google_on_the_free_plan(api, oauth, services):
    body = google_sign_in(api, "g-new")
    assert body["sign_in"] == {"provider": "google", "result": "signed_up"}
    assert body["token_type"] == "Bearer" and body["refresh_token"]
    me = api.get("/api/auth/me", headers=bearer(body)).get_json()
    assert me["user"]["email"] == "new.person@example.com"
    assert me["user"]["first_name"] == "New" and me["plan"] == "free"
    assert me["limits"]["running_workspaces"] == 1
    # the identity index holds ids only and points at the new user's personal tenant
    ids = services.db.transact(lambda tr: tr.get(INDEXES.key("identity", "google", "g-new")))
    assert ids is not None and b"new.person" not in ids
    # an account made by Google has no password: password login is the usual 401
    login = api.post(
        "/api/auth/login", json={"email": "new.person@example.com", "password": "anything at all"}
    )
    assert login.status_code == 401
    assert login.get_json()["error"]["code"] == "invalid_credentials"
    # signing in again finds the same account through the identity, not a second one
    again = google_sign_in(api, "g-new")
    assert again["sign_in"]["result"] == "signed_in"
    assert again["user"]["user_id"] == body["user"]["user_id"]
    refreshed = api.post("/api/auth/refresh", json={"refresh_token": again["refresh_token"]})
    assert refreshed.status_code == 200


def test_existing_password_user_links_google_and_the_unproven_password_goes(api, oauth):
    # Password sign-up never proved the email, so linking hands the account to the person Google
    # vouches for: the password is removed (tests/oauth/test_account_takeover.py has the rest).
    registered = register(api, "ada@example.com", "correct horse battery")
    body = google_sign_in(api, "g-ada")
    assert body["sign_in"]["result"] == "linked"
    assert body["user"]["user_id"] == registered["user"]["user_id"]
    login = api.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": "correct horse battery"}
    )
    assert login.status_code == 401
    assert login.get_json()["error"]["code"] == "invalid_credentials"
    again = google_sign_in(api, "g-ada")
    assert again["sign_in"]["result"] == "signed_in"
    assert again["user"]["user_id"] == registered["user"]["user_id"]


def test_one_time_code_is_single_use(api, oauth, services):
    landed = finish(api, sign_in_at_google(start(api), "g-new"))
    assert exchange(api, landed["oauth_code"]).status_code == 200
    before = dump_store(services)
    replay = exchange(api, landed["oauth_code"])
    assert replay.status_code == 400
    assert replay.get_json()["error"]["code"] == "invalid_code"
    assert dump_store(services) == before


def test_one_time_code_expires_after_60_seconds(api, oauth, services, clock):
    kept = finish(api, sign_in_at_google(start(api), "g-new"))
    clock.advance(59)
    assert exchange(api, kept["oauth_code"]).status_code == 200  # still valid just inside 60 s
    landed = finish(api, sign_in_at_google(start(api), "g-new"))
    clock.advance(61)
    before = dump_store(services)
    late = exchange(api, landed["oauth_code"])
    assert late.status_code == 400
    assert late.get_json()["error"]["code"] == "code_expired"
    assert dump_store(services) == before


@pytest.mark.parametrize("body", [{}, {"code": ""}, {"code": "x" * 300}, {"code": "a", "b": 1}])
def test_exchange_rejects_malformed_bodies(api, oauth, body):
    response = api.post("/api/auth/oauth/exchange", json=body)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"]


def refused(api: Any, services: Any, callback_path: str, expected: str) -> None:
    before = dump_store(services)
    response = api.get(callback_path)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("http://testserver/?")
    assert query(location) == {"oauth_error": expected, "provider": "google"}
    assert "Traceback" not in location
    assert dump_store(services) == before  # nothing written on a bad case
    assert "Max-Age=0" in response.headers["Set-Cookie"]  # the flow is over either way


def test_unverified_email_is_refused_and_never_links(api, oauth, services):
    register(api, "mallory@example.com", "correct horse battery")
    callback = sign_in_at_google(start(api), "g-unverified")
    refused(api, services, path_and_query(callback), "email_not_verified")


def test_provider_error_page_is_refused(api, oauth, services):
    callback = deny_at_google(start(api))
    assert query(callback)["error"] == "access_denied"
    refused(api, services, path_and_query(callback), "access_denied")


def test_missing_state_cookie_is_refused(api, oauth, services):
    callback = sign_in_at_google(start(api), "g-new")
    api.delete_cookie(COOKIE_NAME, domain="localhost", path=CALLBACK)
    refused(api, services, path_and_query(callback), "missing_state")


def test_tampered_state_cookie_is_refused(api, oauth, services):
    # An attacker rewrites the cookie's state to one they control and keeps the old signature.
    callback = sign_in_at_google(start(api), "g-new")
    payload, _, signature = state_cookie(api).partition(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["s"] = "attacker-chosen-state"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    api.set_cookie(COOKIE_NAME, f"{forged}.{signature}", domain="localhost", path=CALLBACK)
    code = query(callback)["code"]
    refused(api, services, f"{CALLBACK}?code={code}&state=attacker-chosen-state", "invalid_state")
    api.set_cookie(COOKIE_NAME, "garbage", domain="localhost", path=CALLBACK)
    refused(api, services, f"{CALLBACK}?code={code}&state=attacker-chosen-state", "invalid_state")


def test_concurrent_callbacks_with_one_state_complete_once(oauth, services):
    # Two callbacks racing past the early check: the transaction's own check lets one through.
    from shared.oauth.common import Identity

    identity = Identity("google", "g-race", "race@example.com", True)
    now = oauth.clock.now()

    def complete(code_hash: str) -> Completed:
        sign_in = SignIn(identity, "race@example.com", "s" * 64, now + 600, (code_hash, "b" * 64))
        return services.db.transact(complete_sign_in, oauth.clock, sign_in, 60)

    first = complete("c" * 64)
    before = dump_store(services)
    second = complete("d" * 64)
    assert (first.outcome, first.result) == ("ok", "signed_up")
    assert second.outcome == "state_used"
    assert dump_store(services) == before


def test_missing_or_wrong_state_parameter_is_refused(api, oauth, services):
    callback = sign_in_at_google(start(api), "g-new")
    params = query(callback)
    refused(api, services, f"{CALLBACK}?code={params['code']}", "missing_state")
    start(api)  # the refusal cleared the cookie; a fresh flow sets a new one
    refused(api, services, f"{CALLBACK}?code={params['code']}&state={params['state']}",
            "state_mismatch")  # fmt: skip


def test_expired_state_cookie_is_refused(api, oauth, services, clock):
    callback = sign_in_at_google(start(api), "g-new")
    clock.advance(601)
    refused(api, services, path_and_query(callback), "state_expired")


def test_replayed_callback_is_refused(api, oauth, services):
    callback = sign_in_at_google(start(api), "g-new")
    cookie = state_cookie(api)
    assert "oauth_code" in finish(api, callback)
    # the browser's cookie was cleared by the callback
    refused(api, services, path_and_query(callback), "missing_state")
    # a copy of the cookie does not help: the state was used
    api.set_cookie(COOKIE_NAME, cookie, domain="localhost", path=CALLBACK)
    refused(api, services, path_and_query(callback), "state_used")


def test_id_token_with_another_flows_nonce_is_refused(api, oauth, services):
    # Flow A starts; its cookie is what an attacker's injected code would meet in the victim's
    # browser. Flow B completes at the provider, so its code yields an id_token with B's nonce.
    start(api)
    cookie_a, state_a = state_cookie(api), cookie_state(api)
    callback_b = sign_in_at_google(start(api), "g-new")
    api.set_cookie(COOKIE_NAME, cookie_a, domain="localhost", path=CALLBACK)
    # cookie A is genuine, so its state passes; the nonce inside B's id_token does not match A's
    code_b = query(callback_b)["code"]
    refused(api, services, f"{CALLBACK}?code={code_b}&state={state_a}", "nonce_mismatch")


def test_expired_id_token_is_refused(api, oauth, services, clock):
    callback = sign_in_at_google(start(api), "g-new")
    clock.advance(ID_TOKEN_SECONDS + 61)  # past exp and the 60 s leeway, inside the state's life
    refused(api, services, path_and_query(callback), "id_token_expired")


def test_replayed_provider_code_is_refused_by_the_provider(api, oauth, services):
    # Same code, a fresh (genuine) state: the provider has already spent the code.
    callback = sign_in_at_google(start(api), "g-new")
    code = query(callback)["code"]
    assert "oauth_code" in finish(api, callback)
    start(api)
    refused(api, services, f"{CALLBACK}?code={code}&state={cookie_state(api)}",
            "code_exchange_failed")  # fmt: skip


def test_id_token_signed_by_another_key_or_for_another_client_is_refused(oauth, oidc_server):
    google = oauth.providers["google"]
    discovery = google.discovery()
    claims = {
        "iss": discovery["issuer"],
        "aud": [GOOGLE_CLIENT_ID],
        "sub": "g-new",
        "exp": int(oauth.clock.now()) + 300,
        "iat": int(oauth.clock.now()),
        "nonce": "n",
        "email": "x@example.com",
        "email_verified": True,
    }
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, stranger, algorithm="RS256")
    with pytest.raises(OAuthFailure) as failure:
        google.verify_id_token(forged, GOOGLE_CLIENT_ID, "n")
    assert failure.value.code == "invalid_id_token"
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(OAuthFailure) as failure:
        google.verify_id_token(unsigned, GOOGLE_CLIENT_ID, "n")
    assert failure.value.code == "invalid_id_token"


def test_not_configured_provider_answers_404(api, services, oauth_settings):
    from shared.oauth.service import OAuthService
    from tests.oauth.conftest import put_clients

    # Google has a client id but no client secret in the secrets port, GitHub a secret but no
    # client id: neither is configured.
    put_clients(services, "google", parts=(0,))
    put_clients(services, "github", parts=(1,))
    services.use(oauth=OAuthService.build(services, oauth_settings, mail=lambda: services.mail))
    before = dump_store(services)
    for provider in ("google", "github"):
        response = api.get(f"/api/auth/oauth/{provider}/start")
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "provider_not_configured"
        assert "Set-Cookie" not in response.headers
    for step in ("start", "callback"):
        unknown = api.get(f"/api/auth/oauth/myspace/{step}")
        assert unknown.status_code == 404
        assert unknown.get_json()["error"]["code"] == "unknown_provider"
    # a callback for a provider that is not configured goes back to the app with that reason
    back = api.get("/api/auth/oauth/github/callback?code=c&state=s")
    assert back.status_code == 302
    assert query(back.headers["Location"])["oauth_error"] == "provider_not_configured"
    assert dump_store(services) == before


def test_callback_host_is_the_public_origin(api, oauth):
    assert urlsplit(query(start(api))["redirect_uri"]).netloc == "testserver"


def test_unreachable_provider_sends_the_browser_back_with_a_readable_error(
    api, services, oauth_settings
):
    from dataclasses import replace

    from shared.oauth.service import OAuthService
    from tests.conftest import free_port
    from tests.oauth.conftest import put_clients

    put_clients(services, "google")
    closed = f"http://127.0.0.1:{free_port()}/.well-known/openid-configuration"
    settings = replace(oauth_settings, google_discovery_url=closed)
    services.use(oauth=OAuthService.build(services, settings, mail=lambda: services.mail))
    before = dump_store(services)
    response = api.get("/api/auth/oauth/google/start")
    assert response.status_code == 302
    assert query(response.headers["Location"]) == {
        "oauth_error": "provider_unavailable",
        "provider": "google",
    }
    assert dump_store(services) == before


def test_expired_codes_and_used_states_are_swept_by_later_sign_ins(api, oauth, services, clock):
    import hashlib

    from shared.store.keys import PROCESSED

    callback = sign_in_at_google(start(api), "g-new")
    state = cookie_state(api)
    code = finish(api, callback)["oauth_code"]  # never exchanged
    code_key = INDEXES.key("oauth_code", hashlib.sha256(code.encode()).hexdigest())
    state_key = PROCESSED.key("oauth_state", hashlib.sha256(state.encode()).hexdigest())
    assert services.db.transact(lambda tr: (tr.get(code_key), tr.get(state_key)))[0] is not None
    clock.advance(601)  # both the code (60 s) and the state (600 s) are past their life
    # the next sign-in's transaction (driven directly: the stand-in's id_tokens use real time)
    from shared.oauth.common import Identity

    later = Identity("google", "g-later", "later@example.com", True)
    sign_in = SignIn(later, "later@example.com", "e" * 64, clock.now() + 600, ("f" * 64, "b" * 64))
    outcome = services.db.transact(complete_sign_in, clock, sign_in, 60)
    assert (outcome.outcome, outcome.result) == ("ok", "signed_up")
    assert services.db.transact(lambda tr: (tr.get(code_key), tr.get(state_key))) == (None, None)


class RecordingHttp(Http):
    """The real HTTP client, keeping what was posted (to see what Google's token endpoint got)."""

    def __init__(self) -> None:
        super().__init__(10.0)
        self.posted: list[dict[str, str]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
        if method == "POST":
            self.posted.append(dict(kwargs.get("data") or {}))
        return super().request(method, url, **kwargs)


def test_google_code_exchange_proves_pkce_and_the_client(api, services, oauth_settings):
    # oidc-provider-mock does not check PKCE, so the token request is looked at here: it must
    # carry the verifier whose S256 the authorize step sent, and our client credentials.
    from shared.oauth.google import GoogleProvider
    from shared.oauth.service import OAuthService
    from tests.oauth.conftest import GOOGLE_SECRET, put_clients

    put_clients(services, "google")
    http = RecordingHttp()
    built = OAuthService.build(services, oauth_settings, mail=lambda: services.mail)
    google = GoogleProvider(oauth_settings.google_discovery_url, http, services.clock, 60)
    built.providers = {**built.providers, "google": google}
    services.use(oauth=built)
    authorize = start(api)
    landed = finish(api, sign_in_at_google(authorize, "g-new"))
    assert "oauth_code" in landed
    [posted] = http.posted
    assert pkce_challenge(posted["code_verifier"]) == query(authorize)["code_challenge"]
    assert posted["client_id"] == GOOGLE_CLIENT_ID and posted["client_secret"] == GOOGLE_SECRET
    assert posted["redirect_uri"] == "http://testserver/api/auth/oauth/google/callback"


class BrokenProvider:
    """A provider that fails in a way nobody planned for."""

    name = "google"

    def authorize_url(self, client: Any, **params: str) -> str:
        return "http://provider.invalid/authorize?" + params["state"]

    def fetch_identity(self, client: Any, **params: str) -> Any:
        raise RuntimeError("boom: secret detail that must not reach the browser")


def test_unexpected_failure_redirects_with_server_error_and_writes_nothing(
    api, services, oauth_settings
):
    from shared.oauth.service import OAuthService
    from tests.oauth.conftest import put_clients

    put_clients(services, "google")
    built = OAuthService.build(services, oauth_settings, mail=lambda: services.mail)
    built.providers = {**built.providers, "google": BrokenProvider()}
    services.use(oauth=built)
    state = urlsplit(start(api)).query
    before = dump_store(services)
    response = api.get(f"{CALLBACK}?code=c&state={state}")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert query(location) == {"oauth_error": "server_error", "provider": "google"}
    assert "boom" not in location and "boom" not in response.get_data(as_text=True)
    assert dump_store(services) == before
