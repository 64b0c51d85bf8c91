"""The sign-in flow: start, callback (verify, then sign in, take back or sign up), code exchange,
and linking another provider to the signed-in owner's account.

``start`` sets the signed state cookie and the browser-binding cookie and sends the browser to
the provider. ``callback`` checks the provider's answer against the cookie (state; the provider
checks PKCE; Google's id_token carries the nonce), asks the provider who the person is, and in
ONE transaction signs them in, creates an account, or takes back an account whose email was
never verified from whoever set its password; marks the state used; and stores a one-time code
(60 s, single use, only its hash is stored, bound to the browser: shared/oauth/codes.py). The
browser then goes to the app with that code, never with tokens; the app exchanges it at
``POST /api/auth/oauth/exchange``.

An identity whose verified email belongs to an account that already proved that email is NOT
linked on sign-in: the owner never said so. The callback answers ``account_exists``; the owner
signs in their usual way and links from settings (``start_link``: the state cookie then names
their account, so only the browser they asked from can complete the link). Every added sign-in
method is mailed to the owner. Every refusal happens before the callback's transaction writes:
nothing is written on a bad case.
"""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from shared import metrics
from shared.accounts.records import UserRecord
from shared.accounts.service import AccountService, SessionTokens
from shared.accounts.users import (
    email_is_verified,
    get_user,
    normalize_email,
)
from shared.claims import Claims
from shared.clock import Clock
from shared.digests import sha256_hex
from shared.errors import Conflict, NotFound, Unauthorized, Unprocessable
from shared.mail import MailPort
from shared.oauth.codes import exchange_code
from shared.oauth.common import ClientCredentials, Http, Provider, log
from shared.oauth.config import GITHUB, GOOGLE, PROVIDERS, OAuthSettings
from shared.oauth.cookie import (
    FlowState,
    binding_cookie_header,
    derive_key,
    new_binding,
    pkce_challenge,
    set_cookie_header,
)
from shared.oauth.errors import OAuthFailure
from shared.oauth.notify import notify_sign_in_method_added
from shared.oauth.outcomes import SignIn, complete_link, complete_sign_in, state_used
from shared.secret_names import (
    GITHUB_OAUTH_CLIENT_ID,
    GITHUB_OAUTH_CLIENT_SECRET,
    GOOGLE_OAUTH_CLIENT_ID,
    GOOGLE_OAUTH_CLIENT_SECRET,
)
from shared.secrets import SecretNotFound, SecretsPort
from shared.settings import Settings
from shared.store import Database, Transaction

# Both halves of a provider's credentials are read through the secrets port under these names.
CLIENT_ID_NAMES = {GOOGLE: GOOGLE_OAUTH_CLIENT_ID, GITHUB: GITHUB_OAUTH_CLIENT_ID}
SECRET_NAMES = {GOOGLE: GOOGLE_OAUTH_CLIENT_SECRET, GITHUB: GITHUB_OAUTH_CLIENT_SECRET}


@dataclass(frozen=True)
class Redirect:
    location: str
    cookies: list[str]


def _hash(value: str) -> str:
    return sha256_hex(value)


class OAuthService:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        secrets: SecretsPort,
        accounts_service: AccountService,
        settings: Settings,
        oauth_settings: OAuthSettings,
        providers: dict[str, Provider],
        mail: Callable[[], MailPort],
    ) -> None:
        self.db = db
        self.clock = clock
        self.secrets = secrets
        self.accounts = accounts_service
        self.settings = settings
        self.config = oauth_settings
        self.providers = providers
        self.mail = mail  # built on first use: most sign-ins send nothing
        self._env_id_warned: set[str] = set()

    @classmethod
    def build(
        cls, services: Any, oauth_settings: OAuthSettings, *, mail: Callable[[], MailPort]
    ) -> OAuthService:
        from shared.oauth.github import GitHubProvider
        from shared.oauth.google import GoogleProvider

        http = Http(oauth_settings.http_timeout_seconds)
        return cls(
            db=services.db,
            clock=services.clock,
            secrets=services.secrets,
            accounts_service=services.accounts,
            settings=services.settings,
            oauth_settings=oauth_settings,
            providers={
                GOOGLE: GoogleProvider(
                    oauth_settings.google_discovery_url,
                    http,
                    services.clock,
                    oauth_settings.leeway_seconds,
                ),
                GITHUB: GitHubProvider(
                    oauth_settings.github_authorize_url,
                    oauth_settings.github_token_url,
                    oauth_settings.github_api_url,
                    http,
                ),
            },
            mail=mail,
        )

    # -- configuration ---------------------------------------------------------------------------
    def callback_path(self, provider: str) -> str:
        return f"/api/auth/oauth/{provider}/callback"

    def redirect_uri(self, provider: str) -> str:
        return self.settings.public_url.rstrip("/") + self.callback_path(provider)

    def app_redirect(self, provider: str, **params: str) -> str:
        base = self.config.app_url or self.settings.public_url.rstrip("/") + "/"
        query = urlencode({**params, "provider": provider})
        return base + ("&" if "?" in base else "?") + query

    def client(self, provider: str) -> ClientCredentials:
        """The provider's credentials; 404 ``provider_not_configured`` when it has none."""
        if provider not in PROVIDERS:
            raise NotFound(f"unknown sign-in provider {provider!r}", code="unknown_provider")
        try:
            client_id = self.secrets.get(CLIENT_ID_NAMES[provider]).decode().strip()
        except SecretNotFound:
            client_id = ""
        if not client_id and self.config.client_id(provider):
            # Deployments from before the id moved to the secrets port set it in the environment
            # (CODITECT_<PROVIDER>_CLIENT_ID); honoured until they add the secret (docs/oauth.md).
            client_id = self.config.client_id(provider)
            if provider not in self._env_id_warned:
                self._env_id_warned.add(provider)
                log.warning(
                    "oauth client id read from the environment (deprecated)",
                    extra={
                        "fields": {
                            "provider": provider,
                            "add_version_to": CLIENT_ID_NAMES[provider],
                        }
                    },
                )
        try:
            secret = self.secrets.get(SECRET_NAMES[provider]).decode().strip() if client_id else ""
        except SecretNotFound:
            secret = ""
        if not client_id or not secret:
            raise NotFound(
                f"sign-in with {provider} is not configured", code="provider_not_configured"
            )
        return ClientCredentials(client_id, secret)

    def _cookie_key(self, provider: str, client: ClientCredentials) -> bytes:
        return derive_key(client.client_secret.encode(), provider)

    # -- /start ----------------------------------------------------------------------------------
    def start(self, provider: str) -> Redirect:
        """Sign-in: the state cookie, and a fresh binding cookie for the one-time code."""
        redirect = self._start(provider, None)
        binding = binding_cookie_header(
            new_binding(),
            self.config.state_seconds + self.config.code_seconds,
            secure=self.settings.public_url.startswith("https://"),
        )
        return Redirect(redirect.location, [*redirect.cookies, binding])

    def start_link(self, provider: str, claims: Claims) -> Redirect:
        """The signed-in owner adds ``provider``: the state cookie names their account.

        409 ``email_not_verified`` while the account's email is unproven: the take-back of such
        an account (verify_email_by_oauth) removes the password and sessions but not identities,
        so an identity linked before the owner proved the email could outlive it.
        """
        self.client(provider)  # 404 before anything else

        def read(tr: Transaction) -> UserRecord | None:
            return get_user(tr, claims["tid"], claims["sub"])

        user = self.db.transact(read)
        if user is None:
            raise Unauthorized("account no longer exists", code="invalid_token")
        if not email_is_verified(user):
            raise Conflict(
                "verify your email before adding another sign-in method",
                code="email_not_verified",
            )
        return self._start(provider, (claims["sub"], claims["tid"]))

    def _start(self, provider: str, link_to: tuple[str, str] | None) -> Redirect:
        client = self.client(provider)  # raises 404 before anything else happens
        flow = FlowState.new(provider, self.clock.now(), self.config.state_seconds, link_to)
        location = self.providers[provider].authorize_url(
            client,
            redirect_uri=self.redirect_uri(provider),
            state=flow.state,
            challenge=pkce_challenge(flow.code_verifier),
            nonce=flow.nonce,
        )
        cookie = set_cookie_header(
            flow.seal(self._cookie_key(provider, client)),
            self.callback_path(provider),
            self.config.state_seconds,
        )
        return Redirect(location, [cookie])

    # -- /callback -------------------------------------------------------------------------------
    def callback(
        self,
        provider: str,
        args: dict[str, str],
        cookie: str | None,
        binding: str | None,
        on_take_back: Callable[[dict[str, Any]], None] | None = None,
    ) -> str:
        """Sign the browser in (or finish a link); returns where to send it.

        Raises :class:`OAuthFailure`. ``binding`` is the browser's binding cookie (sign-in only);
        ``on_take_back`` runs after a committed take-back (stop its workspaces, tell the owner).
        """
        # Only the configured providers reach here (the route and ``client`` check the name).
        method = provider if provider in self.providers else "other"
        try:
            location, result = self._callback(provider, args, cookie, binding, on_take_back)
        except Exception:
            metrics.LOGINS.inc(method=method, outcome="failure")
            raise
        if result == "signed_up":
            metrics.SIGNUPS.inc(method=method, outcome="success")
        if result != "linked_from_settings":
            metrics.LOGINS.inc(method=method, outcome="success")
        return location

    def _callback(
        self,
        provider: str,
        args: dict[str, str],
        cookie: str | None,
        binding: str | None,
        on_take_back: Callable[[dict[str, Any]], None] | None,
    ) -> tuple[str, str]:
        if args.get("error"):
            # The provider's own error page (the user said no, or the request was refused).
            error = args["error"]
            raise OAuthFailure(
                "access_denied" if error == "access_denied" else "provider_error", error[:100]
            )
        try:
            client = self.client(provider)
        except NotFound as error:
            raise OAuthFailure(error.code, error.message) from None
        flow = FlowState.open(
            cookie, self._cookie_key(provider, client), provider, self.clock.now()
        )
        state = args.get("state")
        if not state:
            raise OAuthFailure("missing_state", "no state parameter")
        if not flow.matches(state):
            raise OAuthFailure("state_mismatch", "state is not the one this browser started")
        code = args.get("code")
        if not code or len(code) > 2048:
            raise OAuthFailure("missing_code", "no authorization code")
        if not flow.link_user_id and not binding:
            raise OAuthFailure("missing_binding", "no binding cookie: sign-in not started here")
        state_hash = _hash(flow.state)
        if self.db.transact(lambda tr: state_used(tr, state_hash)):
            raise OAuthFailure("state_used", "this sign-in was already completed")
        identity = self.providers[provider].fetch_identity(
            client,
            code=code,
            redirect_uri=self.redirect_uri(provider),
            code_verifier=flow.code_verifier,
            nonce=flow.nonce,
        )
        if not identity.email_verified:
            raise OAuthFailure("email_not_verified", "the provider has not verified the email")
        try:
            email = normalize_email(identity.email)
        except Unprocessable:
            raise OAuthFailure("invalid_email", "the provider's email is not valid") from None
        taken_back: list[dict[str, Any]] = []
        if flow.link_user_id:
            done = self.db.transact(complete_link, self.clock, identity, email, flow, state_hash)
            code_param: dict[str, str] = {"oauth_linked": provider}
        else:
            one_time_code = pysecrets.token_urlsafe(32)
            grant = (_hash(one_time_code), _hash(binding or ""))
            sign_in = SignIn(identity, email, state_hash, flow.expires_at, grant)
            done = self.db.transact(
                complete_sign_in, self.clock, sign_in, self.config.code_seconds, taken_back
            )
            code_param = {"oauth_code": one_time_code}
        if done.outcome != "ok":
            raise OAuthFailure(done.outcome, done.result)
        if taken_back and on_take_back is not None:
            on_take_back(taken_back[-1])
        log.info(
            "oauth sign-in completed",
            extra={"fields": {"provider": provider, "result": done.result}},
        )
        if done.notify:
            notify_sign_in_method_added(self.mail, done.notify, provider, self.settings.public_url)
        result = str(done.result) if not flow.link_user_id else "linked_from_settings"
        return self.app_redirect(provider, **code_param), result

    # -- POST /api/auth/oauth/exchange -----------------------------------------------------------
    def exchange(
        self, code: str, binding: str | None
    ) -> tuple[UserRecord, SessionTokens, dict[str, str]]:
        return exchange_code(self.db, self.clock, self.accounts, code, binding)
