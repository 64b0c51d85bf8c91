"""The sign-in flow: start, callback (verify, then sign in, link or sign up), code exchange.

``start`` sets the signed state cookie and sends the browser to the provider. ``callback``
checks the provider's answer against the cookie (state; the provider checks PKCE; Google's
id_token carries the nonce), asks the provider who the person is, and in ONE transaction signs
them in, links the identity to the account with the same verified email (taking an account
whose email was never verified back from whoever set its password), or creates an account;
marks the state used; and stores a one-time code (60 s, single use, only its hash is stored).
The browser then goes to the app with that code, never with tokens; the app exchanges it at
``POST /api/auth/oauth/exchange``. Every refusal happens before that transaction: nothing is
written on a bad case.
"""

from __future__ import annotations

import json
import secrets as pysecrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

from shared.accounts.audit import write_audit
from shared.accounts.identities import link_identity, lookup_identity, verify_email_by_oauth
from shared.accounts.records import UserRecord
from shared.accounts.service import AccountService, SessionTokens
from shared.accounts.users import (
    create_account_without_password,
    email_is_verified,
    get_user,
    lookup_email,
    normalize_email,
)
from shared.clock import Clock, isoformat
from shared.digests import sha256_hex
from shared.errors import BadRequest, NotFound, Unprocessable
from shared.oauth.common import ClientCredentials, Http, Identity, log
from shared.oauth.config import GITHUB, GOOGLE, PROVIDERS, OAuthSettings
from shared.oauth.cookie import FlowState, derive_key, pkce_challenge, set_cookie_header
from shared.oauth.errors import OAuthFailure
from shared.oauth.linking import complete_link, get_link_intent, put_link_intent
from shared.secret_names import (
    GITHUB_OAUTH_CLIENT_ID,
    GITHUB_OAUTH_CLIENT_SECRET,
    GOOGLE_OAUTH_CLIENT_ID,
    GOOGLE_OAUTH_CLIENT_SECRET,
)
from shared.secrets import SecretNotFound, SecretsPort
from shared.settings import Settings
from shared.store import Database, Transaction
from shared.store.keys import INDEXES, PROCESSED

# Both halves of a provider's credentials are read through the secrets port under these names.
CLIENT_ID_NAMES = {GOOGLE: GOOGLE_OAUTH_CLIENT_ID, GITHUB: GITHUB_OAUTH_CLIENT_ID}
SECRET_NAMES = {GOOGLE: GOOGLE_OAUTH_CLIENT_SECRET, GITHUB: GITHUB_OAUTH_CLIENT_SECRET}
SWEEP_LIMIT = 16  # expired codes/states cleared per sign-in: bounded work per transaction


class Provider(Protocol):
    name: str

    def authorize_url(
        self,
        client: ClientCredentials,
        *,
        redirect_uri: str,
        state: str,
        challenge: str,
        nonce: str,
    ) -> str: ...

    def fetch_identity(
        self,
        client: ClientCredentials,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str,
        nonce: str,
    ) -> Identity: ...


@dataclass(frozen=True)
class Redirect:
    location: str
    set_cookie: str


def _hash(value: str) -> str:
    return sha256_hex(value)


def _code_key(code_hash: str) -> bytes:
    return INDEXES.key("oauth_code", code_hash)


def _state_key(state_hash: str) -> bytes:
    return PROCESSED.key("oauth_state", state_hash)


def _expiry_key(expires_at: float, kind: str, digest: str) -> bytes:
    return INDEXES.key("oauth_expiry", int(expires_at * 1000), kind, digest)


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
    ) -> None:
        self.db = db
        self.clock = clock
        self.secrets = secrets
        self.accounts = accounts_service
        self.settings = settings
        self.config = oauth_settings
        self.providers = providers
        self._env_id_warned: set[str] = set()

    @classmethod
    def build(cls, services: Any, oauth_settings: OAuthSettings) -> OAuthService:
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
    def start(self, provider: str, *, link_for: tuple[str, str] | None = None) -> Redirect:
        """``link_for`` (user id, tenant id): link the identity to that signed-in user."""
        client = self.client(provider)  # raises 404 before anything else happens
        flow = FlowState.new(provider, self.clock.now(), self.config.state_seconds)
        if link_for is not None:
            self.db.transact(put_link_intent, _hash(flow.state), *link_for, flow.expires_at)
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
        return Redirect(location, cookie)

    # -- /callback -------------------------------------------------------------------------------
    def callback(
        self,
        provider: str,
        args: dict[str, str],
        cookie: str | None,
        on_take_back: Callable[[dict[str, Any]], None] | None = None,
    ) -> str:
        """Sign the browser in; returns where to send it. Raises :class:`OAuthFailure`.

        ``on_take_back`` runs after a committed take-back (stop its workspaces, tell the owner).
        """
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
        state_hash = _hash(flow.state)
        if self.db.transact(lambda tr: tr.get(_state_key(state_hash)) is not None):
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
        if self.db.transact(get_link_intent, state_hash) is not None:
            outcome, detail = self.db.transact(
                complete_link, state_hash, _state_key(state_hash), identity, email, self.clock.now()
            )
            if outcome != "ok":
                raise OAuthFailure(outcome, detail)
            return self.app_redirect(provider, oauth_linked=detail)
        one_time_code = pysecrets.token_urlsafe(32)
        taken_back: list[dict[str, Any]] = []
        outcome, detail = self.db.transact(
            self._complete,
            identity,
            email,
            state_hash,
            flow.expires_at,
            _hash(one_time_code),
            taken_back,
        )
        if outcome != "ok":
            raise OAuthFailure(outcome, detail)
        if taken_back and on_take_back is not None:
            on_take_back(taken_back[-1])
        log.info(
            "oauth sign-in completed",
            extra={"fields": {"provider": provider, "result": detail}},
        )
        return self.app_redirect(provider, oauth_code=one_time_code)

    def _complete(
        self,
        tr: Transaction,
        identity: Identity,
        email: str,
        state_hash: str,
        state_expires_at: float,
        code_hash: str,
        taken_back: list[dict[str, Any]] | None = None,
    ) -> tuple[str, str]:
        """Sign in / link / sign up, mark the state used and store the code: one transaction.

        Returns ``(outcome, detail)`` rather than raising, as the store may run it twice.
        """
        now = self.clock.now()
        taken_back = [] if taken_back is None else taken_back
        taken_back.clear()  # this attempt's outcome only (the store may run it again)
        if tr.get(_state_key(state_hash)) is not None:
            return "state_used", "this sign-in was already completed"
        found = lookup_identity(tr, identity.provider, identity.subject)
        if found is not None:
            result = "signed_in"
            if get_user(tr, found["tenant_id"], found["user_id"]) is None:
                return "account_missing", "the linked account no longer exists"
        else:
            found = lookup_email(tr, email)
            if found is not None:
                result = "linked"
                user = get_user(tr, found["tenant_id"], found["user_id"])
                if user is None:
                    return "account_missing", "the account with this email no longer exists"
                if not email_is_verified(user):
                    # Password sign-up proves nothing about the email: whoever set that password
                    # may have registered someone else's address first. The provider has proved
                    # ownership, so the account becomes theirs alone (password and sessions go).
                    taken_back.append(
                        verify_email_by_oauth(
                            tr, found["tenant_id"], user, now, provider=identity.provider
                        )
                    )
            else:
                result = "signed_up"
                user = create_account_without_password(
                    tr,
                    now,
                    email=email,
                    first_name=identity.first_name,
                    last_name=identity.last_name,
                    method=f"oauth:{identity.provider}",
                )
                found = {"user_id": user["user_id"], "tenant_id": user["tenant_id"]}
            link_identity(
                tr,
                found["tenant_id"],
                found["user_id"],
                now,
                provider=identity.provider,
                subject=identity.subject,
                email=email,
            )
        self._sweep(tr, now)
        tr.set(_state_key(state_hash), json.dumps({"used_at": isoformat(now)}).encode())
        tr.set(_expiry_key(state_expires_at, "state", state_hash), b"")
        expires_at = now + self.config.code_seconds
        tr.set(
            _code_key(code_hash),
            json.dumps(
                {
                    "user_id": found["user_id"],
                    "tenant_id": found["tenant_id"],
                    "provider": identity.provider,
                    "result": result,
                    "expires_at": expires_at,
                }
            ).encode(),
        )
        tr.set(_expiry_key(expires_at, "code", code_hash), b"")
        return "ok", result

    def _sweep(self, tr: Transaction, now: float) -> None:
        """Clear a few expired codes and used-state marks (snapshot read: no conflicts)."""
        begin, _ = INDEXES.range("oauth_expiry")
        end = INDEXES.key("oauth_expiry", int(now * 1000))
        for key, _value in tr.get_range(begin, end, limit=SWEEP_LIMIT, snapshot=True):
            _, _, kind, digest = INDEXES.unpack(key)
            tr.clear(key)
            tr.clear(_code_key(digest) if kind == "code" else _state_key(digest))

    # -- POST /api/auth/oauth/exchange -----------------------------------------------------------
    def exchange(self, code: str) -> tuple[UserRecord, SessionTokens, dict[str, str]]:
        code_hash = _hash(code)

        def consume(tr: Transaction) -> tuple[str, Any]:
            raw = tr.get(_code_key(code_hash))
            if raw is None:
                return "invalid", None
            record = json.loads(raw)
            now = self.clock.now()
            if record["expires_at"] <= now:
                return "expired", None  # left for the sweep: a bad case writes nothing
            user = get_user(tr, record["tenant_id"], record["user_id"])
            if user is None:
                return "invalid", None
            tr.clear(_code_key(code_hash))
            tr.clear(_expiry_key(record["expires_at"], "code", code_hash))
            method = f"oauth:{record['provider']}"
            write_audit(
                tr,
                record["tenant_id"],
                now,
                "user.login",
                {"user_id": user["user_id"], "method": method},
            )
            tokens = self.accounts.start_session(
                tr, user["user_id"], record["tenant_id"], now, method
            )
            return "ok", (
                user,
                tokens,
                {"provider": record["provider"], "result": record["result"]},
            )

        outcome, value = self.db.transact(consume)
        if outcome == "expired":
            raise BadRequest("the sign-in code has expired; sign in again", code="code_expired")
        if outcome != "ok":
            raise BadRequest("the sign-in code is invalid or already used", code="invalid_code")
        return value
