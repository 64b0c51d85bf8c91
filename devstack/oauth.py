"""Local sign-in providers for ``make dev``: a real OIDC server as Google, a small GitHub fake.

Google's stand-in is ``oidc-provider-mock`` (an authlib-based OpenID provider) run in-process;
GitHub's is the few endpoints the code calls (authorize page, ``/login/oauth/access_token``,
``/user``, ``/user/emails``), checking the client secret, the redirect URI and PKCE as GitHub
does. Each stand-in's client id and secret are put in the local secrets port, the same path
production reads them from, and the process's OAuth service points at the stand-ins' endpoints,
so ``/api/auth/oauth/{google,github}/start`` works out of the box.

A provider gets no stand-in when a real client is configured for it: a client id in the secrets
port other than the stand-in's (e.g. ``CODITECT_SECRET_GOOGLE_OAUTH_CLIENT_ID``), or, when the
port has none, the deprecated ``CODITECT_<PROVIDER>_CLIENT_ID``. See docs/oauth.md.
"""

from __future__ import annotations

import hashlib
import html
import json
import secrets
import threading
import warnings
from base64 import urlsafe_b64encode
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    from devstack.stack import LocalStack

LOCAL_CLIENT_ID = {"google": "coditect-local-google", "github": "coditect-local-github"}

# People the stand-ins offer on their sign-in pages.
GOOGLE_USERS = (
    (
        "grace@example.com",
        {
            "email": "grace@example.com",
            "email_verified": True,
            "given_name": "Grace",
            "family_name": "Hopper",
        },
    ),
    (
        "ada@example.com",
        {
            "email": "ada@example.com",
            "email_verified": True,
            "given_name": "Ada",
            "family_name": "Lovelace",
        },
    ),
    ("unverified@example.com", {"email": "unverified@example.com", "email_verified": False}),
)
GITHUB_USERS = (
    {"id": 1001, "login": "octo-ada", "name": "Ada Lovelace",
     "emails": [{"email": "ada@example.com", "primary": True, "verified": True}]},
    {"id": 1002, "login": "octo-grace", "name": "Grace Hopper",
     "emails": [{"email": "grace@example.com", "primary": True, "verified": True}]},
    {"id": 1003, "login": "octo-unverified", "name": None,
     "emails": [{"email": "nobody@example.com", "primary": True, "verified": False}]},
)  # fmt: skip


@dataclass
class GitHubFake:
    """Just enough of github.com and api.github.com for the OAuth web flow."""

    client_id: str
    client_secret: str
    users: tuple[dict[str, Any], ...] = GITHUB_USERS
    _codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        from werkzeug.wrappers import Request

        request = Request(environ)
        routes = {
            ("GET", "/login/oauth/authorize"): self._authorize_page,
            ("POST", "/login/oauth/authorize"): self._authorize,
            ("POST", "/login/oauth/access_token"): self._access_token,
            ("GET", "/user"): self._user,
            ("GET", "/user/emails"): self._emails,
        }
        handler = routes.get((request.method, request.path))
        response = handler(request) if handler else _json({"message": "Not Found"}, 404)
        return response(environ, start_response)

    def _authorize_page(self, request: Any) -> Any:
        from werkzeug.wrappers import Response

        if request.args.get("client_id") != self.client_id:
            return Response("unknown client_id", 400)
        query = html.escape(request.query_string.decode(), quote=True)
        buttons = "".join(
            f'<button name="user" value="{u["id"]}">{html.escape(u["login"])}</button> '
            for u in self.users
        )
        page = (
            "<!doctype html><title>GitHub (local stand-in)</title>"
            "<h1>Sign in to Coditect with GitHub (local stand-in)</h1>"
            f'<form method="post" action="/login/oauth/authorize?{query}">{buttons}'
            '<button name="action" value="deny">Cancel</button></form>'
        )
        return Response(page, 200, mimetype="text/html")

    def _authorize(self, request: Any) -> Any:
        from werkzeug.utils import redirect
        from werkzeug.wrappers import Response

        args = request.args
        redirect_uri, state = args.get("redirect_uri", ""), args.get("state", "")
        if args.get("client_id") != self.client_id or not redirect_uri:
            return Response("bad authorization request", 400)
        if request.form.get("action") == "deny":
            return redirect(
                redirect_uri + "?" + urlencode({"error": "access_denied", "state": state})
            )
        user = next((u for u in self.users if str(u["id"]) == request.form.get("user")), None)
        if user is None:
            return Response("choose a user", 400)
        code = secrets.token_urlsafe(20)
        with self._lock:
            self._codes[code] = {
                "user": user,
                "redirect_uri": redirect_uri,
                "challenge": args.get("code_challenge", ""),
            }
        return redirect(redirect_uri + "?" + urlencode({"code": code, "state": state}))

    def _access_token(self, request: Any) -> Any:
        form = request.form
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # single use, as on GitHub
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return _json({"error": "incorrect_client_credentials"})
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            return _json({"error": "bad_verification_code"})
        verifier = form.get("code_verifier", "")
        digest = urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
        if grant["challenge"] and digest.decode() != grant["challenge"]:
            return _json({"error": "bad_verification_code"})
        token = "gho_" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = grant["user"]
        return _json(
            {"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"}
        )

    def _bearer_user(self, request: Any) -> dict[str, Any] | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        with self._lock:
            return self._tokens.get(token) if scheme.lower() in ("bearer", "token") else None

    def _user(self, request: Any) -> Any:
        user = self._bearer_user(request)
        if user is None:
            return _json({"message": "Requires authentication"}, 401)
        return _json({"id": user["id"], "login": user["login"], "name": user["name"]})

    def _emails(self, request: Any) -> Any:
        user = self._bearer_user(request)
        if user is None:
            return _json({"message": "Requires authentication"}, 401)
        return _json([{**e, "visibility": "private"} for e in user["emails"]])


def _json(body: Any, status: int = 200) -> Any:
    from werkzeug.wrappers import Response

    return Response(json.dumps(body), status, mimetype="application/json")


def _serve(app: Any) -> tuple[Any, threading.Thread]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="github-fake", daemon=True)
    thread.start()
    return server, thread


def _held(port: Any, name: str) -> str:
    found = port.versions(name, 1)
    return found[0].decode().strip() if found else ""


def _put_once(port: Any, name: str, make: Callable[[], str]) -> str:
    """The value kept under ``name`` in the local secrets port, made the first time."""
    held = _held(port, name)
    if not held:
        port.add_version(name, make().encode())
        held = _held(port, name)
    return held


def start_oauth_stand_ins(stack: LocalStack) -> Callable[[], None]:
    from dataclasses import replace

    from shared.oauth.config import GITHUB, GOOGLE, PROVIDERS
    from shared.oauth.service import CLIENT_ID_NAMES, SECRET_NAMES, OAuthService

    services = stack.services
    assert services is not None
    if stack.settings.secrets_backend != "local":
        stack.started.append("sign-in stand-ins skipped: secrets are not local")
        return lambda: None
    port = services.secrets
    configured = stack.settings.oauth
    title = {GOOGLE: "Google", GITHUB: "GitHub"}
    wanted = []
    for provider in PROVIDERS:
        held = _held(port, CLIENT_ID_NAMES[provider])
        legacy = configured.client_id(provider)
        if held and held != LOCAL_CLIENT_ID[provider]:
            stack.started.append(f"{title[provider]} sign-in: client from the secrets port")
        elif legacy and not held:
            stack.started.append(
                f"{title[provider]} sign-in: client id from the environment (deprecated)"
            )
        else:
            if legacy:  # the port wins over the fallback: say so rather than surprise
                stack.started.append(
                    f"{title[provider]} sign-in: CODITECT_{provider.upper()}_CLIENT_ID ignored, "
                    f"the secrets port holds the stand-in's id ({CLIENT_ID_NAMES[provider]})"
                )
            wanted.append(provider)
    if not wanted:
        return lambda: None  # the oauth function builds its service from the environment
    for provider in wanted:
        _put_once(port, CLIENT_ID_NAMES[provider], lambda p=provider: LOCAL_CLIENT_ID[p])
        # The GitHub fake checks its secret; oidc-provider-mock accepts any.
        _put_once(port, SECRET_NAMES[provider], lambda: secrets.token_urlsafe(24))

    settings = configured
    stops: list[Callable[[], None]] = []
    if GOOGLE in wanted:
        with warnings.catch_warnings():
            # The mock's own authlib imports warn about authlib's future; not ours to act on.
            # authlib installs an "always" filter when imported, so ours must come after it.
            import authlib.deprecate

            warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
            import oidc_provider_mock

            google_cm = oidc_provider_mock.run_server_in_thread(
                port=stack.dev.oidc_mock_port,
                user_claims=[oidc_provider_mock.User(sub=sub, claims=c) for sub, c in GOOGLE_USERS],
            )
            google = google_cm.__enter__()
        stops.append(lambda: google_cm.__exit__(None, None, None))
        google_url = f"http://localhost:{google.server_port}"
        settings = replace(
            settings, google_discovery_url=f"{google_url}/.well-known/openid-configuration"
        )
        stack.started.append(f"Google sign-in stand-in (oidc-provider-mock): {google_url}")
    if GITHUB in wanted:
        github_fake = GitHubFake(
            _held(port, CLIENT_ID_NAMES[GITHUB]), _held(port, SECRET_NAMES[GITHUB])
        )
        github, github_thread = _serve(github_fake)

        def stop_github() -> None:
            github.shutdown()
            github_thread.join(timeout=5)

        stops.append(stop_github)
        github_url = f"http://127.0.0.1:{github.server_port}"
        settings = replace(
            settings,
            github_authorize_url=f"{github_url}/login/oauth/authorize",
            github_token_url=f"{github_url}/login/oauth/access_token",
            github_api_url=github_url,
        )
        stack.started.append(f"GitHub sign-in stand-in: {github_url}")
    services.use(oauth=OAuthService.build(services, settings, mail=lambda: services.mail))

    def stop() -> None:
        for each in reversed(stops):
            each()

    return stop
