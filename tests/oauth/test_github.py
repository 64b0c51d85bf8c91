"""Sign in with GitHub through the real functions, against a local fake of GitHub's endpoints."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

from shared.store.keys import INDEXES
from tests.conftest import bearer, register
from tests.oauth.conftest import GITHUB_CLIENT_ID, GITHUB_SECRET, dump_store, query

CALLBACK = "/api/auth/oauth/github/callback"


@dataclass
class FakeGitHub:
    """``/login/oauth/access_token``, ``/user`` and ``/user/emails`` on pytest-httpserver.

    The token endpoint checks what GitHub checks: client credentials, the code (once), the
    redirect URI, and the PKCE verifier against the challenge the authorize step carried.
    """

    server: Any
    user: dict[str, Any] = field(
        default_factory=lambda: {"id": 4242, "login": "ada-gh", "name": "Ada Lovelace"}
    )
    emails: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"email": "old@example.org", "primary": False, "verified": True},
            {"email": "Ada@Example.com", "primary": True, "verified": True},
        ]
    )
    grants: dict[str, dict[str, str]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)

    def install(self) -> None:
        self.server.expect_request("/login/oauth/access_token", method="POST").respond_with_handler(
            self._token
        )
        self.server.expect_request("/user", method="GET").respond_with_handler(self._user)
        self.server.expect_request("/user/emails", method="GET").respond_with_handler(self._emails)

    def authorize(self, authorize_url: str) -> str:
        """The user approves on GitHub: returns the callback path with code and state."""
        params = query(authorize_url)
        assert params["client_id"] == GITHUB_CLIENT_ID
        assert params["code_challenge_method"] == "S256"
        code = secrets.token_hex(10)
        self.grants[code] = {
            "challenge": params["code_challenge"],
            "redirect_uri": params["redirect_uri"],
        }
        return f"{CALLBACK}?code={code}&state={params['state']}"

    @staticmethod
    def _json(body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body), status, mimetype="application/json")

    def _token(self, request: Request) -> Response:
        form = request.form
        grant = self.grants.pop(form.get("code", ""), None)
        if form.get("client_id") != GITHUB_CLIENT_ID or form.get("client_secret") != GITHUB_SECRET:
            return self._json({"error": "incorrect_client_credentials"})
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            return self._json({"error": "bad_verification_code"})
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
            return self._json({"error": "bad_verification_code"})
        token = "gho_" + secrets.token_hex(12)
        self.tokens.add(token)
        return self._json({"access_token": token, "token_type": "bearer", "scope": "user:email"})

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("Authorization", "").removeprefix("Bearer ") in self.tokens

    def _user(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._json({"message": "Requires authentication"}, 401)
        return self._json(self.user)

    def _emails(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._json({"message": "Requires authentication"}, 401)
        return self._json(self.emails)


@pytest.fixture
def github(httpserver: Any, oauth: Any) -> FakeGitHub:
    fake = FakeGitHub(httpserver)
    fake.install()
    return fake


def start(api: Any) -> str:
    response = api.get("/api/auth/oauth/github/start")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert "Path=/api/auth/oauth/github/callback" in response.headers["Set-Cookie"]
    return response.headers["Location"]


def callback(api: Any, path: str) -> dict[str, str]:
    response = api.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("http://testserver/?")
    return query(response.headers["Location"])


def github_sign_in(api: Any, github: FakeGitHub) -> dict[str, Any]:
    landed = callback(api, github.authorize(start(api)))
    assert "oauth_code" in landed, landed
    response = api.post("/api/auth/oauth/exchange", json={"code": landed["oauth_code"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_password_user_links_github_by_verified_email_and_keeps_the_account(api, github, services):
    registered = register(api, "ada@example.com", "correct horse battery")
    body = github_sign_in(api, github)
    assert body["sign_in"] == {"provider": "github", "result": "linked"}
    assert body["user"]["user_id"] == registered["user"]["user_id"]
    assert api.get("/api/auth/me", headers=bearer(body)).status_code == 200
    # the identity is the numeric id, never the login
    index = services.db.transact(lambda tr: tr.get(INDEXES.key("identity", "github", "4242")))
    assert json.loads(index) == {
        "user_id": registered["user"]["user_id"],
        "tenant_id": registered["user"]["tenant_id"],
    }
    assert (
        services.db.transact(lambda tr: tr.get(INDEXES.key("identity", "github", "ada-gh"))) is None
    )
    # the password was set without proof of the email, so it went with the link ...
    login = api.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": "correct horse battery"}
    )
    assert login.status_code == 401
    assert login.get_json()["error"]["code"] == "invalid_credentials"
    # ... and GitHub is the way in, even after the login was renamed
    github.user = {**github.user, "login": "ada-renamed"}
    again = github_sign_in(api, github)
    assert again["sign_in"]["result"] == "signed_in"
    assert again["user"]["user_id"] == registered["user"]["user_id"]


def test_another_github_account_with_a_reused_login_is_someone_else(api, github):
    first = github_sign_in(api, github)
    assert first["sign_in"]["result"] == "signed_up"
    github.user = {"id": 777, "login": "ada-gh", "name": None}
    github.emails = [{"email": "eve@example.com", "primary": True, "verified": True}]
    second = github_sign_in(api, github)
    assert second["sign_in"]["result"] == "signed_up"
    assert second["user"]["user_id"] != first["user"]["user_id"]
    assert second["user"]["email"] == "eve@example.com"


def test_new_github_user_gets_a_personal_tenant_on_free(api, github):
    body = github_sign_in(api, github)
    assert body["sign_in"]["result"] == "signed_up"
    me = api.get("/api/auth/me", headers=bearer(body)).get_json()
    assert me["plan"] == "free"
    assert me["user"]["email"] == "ada@example.com"  # the primary one, normalized
    assert (me["user"]["first_name"], me["user"]["last_name"]) == ("Ada", "Lovelace")


def refused(api: Any, services: Any, path: str, expected: str) -> None:
    before = dump_store(services)
    assert callback(api, path) == {"oauth_error": expected, "provider": "github"}
    assert dump_store(services) == before


def test_unverified_primary_email_never_links(api, github, services):
    register(api, "ada@example.com", "correct horse battery")
    # a verified secondary address does not count: only the primary one is used
    github.emails = [
        {"email": "ada@example.com", "primary": True, "verified": False},
        {"email": "other@example.com", "primary": False, "verified": True},
    ]
    refused(api, services, github.authorize(start(api)), "email_not_verified")


def test_account_without_primary_email_is_refused(api, github, services):
    github.emails = [{"email": "x@example.com", "primary": False, "verified": True}]
    refused(api, services, github.authorize(start(api)), "email_missing")


def test_bad_code_is_refused(api, github, services):
    path = github.authorize(start(api))
    github.grants.clear()  # GitHub answers 200 {"error": "bad_verification_code"}
    refused(api, services, path, "code_exchange_failed")


def test_pkce_verifier_from_another_flow_is_refused(api, github, services):
    # The code was issued for flow A's challenge; flow B's cookie carries another verifier.
    code_path = github.authorize(start(api))
    state_b = query(start(api))["state"]
    code = query(code_path)["code"]
    refused(api, services, f"{CALLBACK}?code={code}&state={state_b}", "code_exchange_failed")


def test_provider_error_page_and_missing_state(api, github, services):
    authorize_url = start(api)
    state = query(authorize_url)["state"]
    refused(api, services, f"{CALLBACK}?error=access_denied&state={state}", "access_denied")
    start(api)
    refused(api, services, f"{CALLBACK}?error=application_suspended", "provider_error")
    start(api)
    refused(api, services, f"{CALLBACK}?code=abc", "missing_state")


def test_github_unreachable_is_a_readable_error(api, github, services, httpserver):
    path = github.authorize(start(api))
    httpserver.clear_all_handlers()
    httpserver.expect_request("/login/oauth/access_token").respond_with_data("oops", status=502)
    refused(api, services, path, "code_exchange_failed")


@pytest.mark.parametrize("user_id", ["4242", None, True, 0])
def test_user_without_a_numeric_id_is_refused(api, github, services, user_id):
    # The login alone never identifies anybody; an id that is not a positive number is refused.
    github.user = {"id": user_id, "login": "ada-gh"}
    refused(api, services, github.authorize(start(api)), "provider_error")
