"""Builds the services each function uses, from settings, once per process.

Functions call ``services()``; it builds lazily (nothing heavy at import time, for cold starts)
and caches. Each area has one typed accessor on :class:`Services`, built on first use; tests and
the local stack build their own ``Services`` with ``build(...)``, swap parts with ``use(...)``,
and ``install(...)`` them.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from shared.clock import Clock, SystemClock
from shared.events import EventsPort
from shared.secrets import SecretsPort
from shared.settings import Settings
from shared.store import Database

if TYPE_CHECKING:
    from shared.accounts.api_tokens import ApiTokens
    from shared.accounts.connections import Connections
    from shared.accounts.deletion import AccountDeletion
    from shared.accounts.email_verification import EmailVerifications
    from shared.accounts.password_flows import PasswordFlows
    from shared.accounts.service import AccountService
    from shared.accounts.sessions import Sessions
    from shared.billing.service import BillingService
    from shared.llm.usage import UsageService
    from shared.mail import MailPort
    from shared.oauth.service import OAuthService
    from shared.provisioner.hooks import WorkspaceHooks
    from shared.provisioner.reconciler import Reconciler
    from shared.tokens import TokenService
    from shared.workspaces.idle import IdleCleanup
    from shared.workspaces.scheduler_auth import SchedulerAuth
    from shared.workspaces.service import WorkspaceService

T = TypeVar("T")
_lock = threading.RLock()


@dataclass
class Services:
    settings: Settings
    db: Database
    secrets: SecretsPort
    clock: Clock
    events: EventsPort
    # The local stack's data-plane hooks (a real sidecar per ready workspace); none in production.
    hooks: WorkspaceHooks | None = None
    # A kubernetes ApiClient; built from settings on first use unless given (stand-in, tests).
    kube_api_client: Any = None
    _built: dict[str, object] = field(default_factory=dict, repr=False)

    def _once(self, name: str, make: Callable[[], T]) -> T:
        built = self._built.get(name)  # the common case: built already, no lock to contend for
        if built is not None:
            return built  # type: ignore[return-value]  # keyed by accessor
        with _lock:
            if name not in self._built:
                self._built[name] = make()
            return self._built[name]  # type: ignore[return-value]  # keyed by accessor

    def is_built(self, name: str) -> bool:
        return name in self._built

    def use(
        self,
        *,
        billing: BillingService | None = None,
        mail: MailPort | None = None,
        oauth: OAuthService | None = None,
        workspaces: WorkspaceService | None = None,
        scheduler_auth: SchedulerAuth | None = None,
    ) -> None:
        """Swap in parts built elsewhere (tests, the local stack)."""
        given = {
            "billing": billing,
            "mail": mail,
            "oauth": oauth,
            "workspaces": workspaces,
            "scheduler_auth": scheduler_auth,
        }
        with _lock:
            self._built.update({k: v for k, v in given.items() if v is not None})

    def replace_settings(self, **sections: Any) -> None:
        """Swap settings sections (``workspaces=...``) before the areas using them are built."""
        self.settings = dataclasses.replace(self.settings, **sections)

    # -- one accessor per area -------------------------------------------------------------------
    @property
    def tokens(self) -> TokenService:
        def make() -> TokenService:
            from shared.tokens import Keyring, TokenService

            keyring = Keyring(
                self.secrets,
                self.settings.signing_key_secret,
                generate_if_missing=self.settings.secrets_backend == "local",
            )
            return TokenService(keyring, self.clock, self.settings.issuer)

        return self._once("tokens", make)

    @property
    def accounts(self) -> AccountService:
        def make() -> AccountService:
            from shared.accounts.service import AccountService

            return AccountService(self.db, self.tokens, self.clock, self.settings)

        return self._once("accounts", make)

    @property
    def email_verifications(self) -> EmailVerifications:
        def make() -> EmailVerifications:
            from shared.accounts.email_verification import EmailVerifications

            return EmailVerifications(self.db, self.clock)

        return self._once("email_verifications", make)

    @property
    def sessions(self) -> Sessions:
        def make() -> Sessions:
            from shared.accounts.sessions import Sessions

            return Sessions(self.db, self.clock)

        return self._once("sessions", make)

    @property
    def password_flows(self) -> PasswordFlows:
        def make() -> PasswordFlows:
            from shared.accounts.password_flows import PasswordFlows

            return PasswordFlows(self.db, self.clock)

        return self._once("password_flows", make)

    @property
    def api_tokens(self) -> ApiTokens:
        return self.accounts.api_tokens  # the one the authenticator checks tokens with

    @property
    def connections(self) -> Connections:
        def make() -> Connections:
            from shared.accounts.connections import Connections

            return Connections(self.db, self.clock)

        return self._once("connections", make)

    @property
    def account_deletion(self) -> AccountDeletion:
        def make() -> AccountDeletion:
            from shared.accounts.deletion import AccountDeletion

            return AccountDeletion(self.db, self.clock)

        return self._once("account_deletion", make)

    @property
    def mail(self) -> MailPort:
        def make() -> MailPort:
            from shared.mail import build_mail

            return build_mail(self.settings.mail, self.secrets, self.settings.data_dir)

        return self._once("mail", make)

    @property
    def oauth(self) -> OAuthService:
        def make() -> OAuthService:
            from shared.oauth.service import OAuthService

            return OAuthService.build(self, self.settings.oauth, mail=lambda: self.mail)

        return self._once("oauth", make)

    @property
    def billing(self) -> BillingService:
        def make() -> BillingService:
            from shared.billing.wiring import build_billing_service

            return build_billing_service(self)

        return self._once("billing", make)

    @property
    def workspaces(self) -> WorkspaceService:
        def make() -> WorkspaceService:
            from shared.workspaces.service import WorkspaceService

            return WorkspaceService(
                self.db,
                self.events,
                self.clock,
                self.tokens,
                self.settings.workspaces,
                llm_key_secret=self.llm_key_secret,
            )

        return self._once("workspaces", make)

    @property
    def llm_usage(self) -> UsageService:
        def make() -> UsageService:
            from shared.llm.usage import UsageService

            return UsageService(self.db, self.clock)

        return self._once("llm_usage", make)

    def llm_key_secret(self) -> bytes:
        """The secret workspace LLM keys are derived from, read once (the local stack makes
        one; production's comes from Terraform)."""

        def make() -> bytes:
            from shared.llm.keys import derivation_secret

            return derivation_secret(
                self.secrets, generate_if_missing=self.settings.secrets_backend == "local"
            )

        return self._once("llm_key_secret", make)

    @property
    def idle_cleanup(self) -> IdleCleanup:
        def make() -> IdleCleanup:
            from shared.workspaces.idle import IdleCleanup

            return IdleCleanup(self.db, self.events, self.clock, self.settings.workspaces)

        return self._once("idle_cleanup", make)

    @property
    def scheduler_auth(self) -> SchedulerAuth:
        def make() -> SchedulerAuth:
            from shared.workspaces.scheduler_auth import SchedulerAuth

            ws = self.settings.workspaces
            return SchedulerAuth(ws.scheduler_audience, ws.scheduler_service_account)

        return self._once("scheduler_auth", make)

    @property
    def reconciler(self) -> Reconciler:
        def make() -> Reconciler:
            from shared.provisioner.hooks import InstalledHooks
            from shared.provisioner.kube import KubeGateway, make_api_client
            from shared.provisioner.reconciler import Reconciler
            from shared.provisioner.theia import LlmAccess

            if self.kube_api_client is None:
                self.kube_api_client = make_api_client(self.settings)
            return Reconciler(
                self.db,
                self.clock,
                KubeGateway(self.kube_api_client),
                self.settings.workspaces,
                public_url=self.settings.public_url,
                issuer=self.settings.issuer,
                llm=LlmAccess(self.settings.llm_public_url, self.llm_key_secret),
                hooks=InstalledHooks(lambda: self.hooks),
            )

        return self._once("reconciler", make)


_current: Services | None = None


def build(
    settings: Settings,
    *,
    db: Database | None = None,
    secrets: SecretsPort | None = None,
    clock: Clock | None = None,
    events: EventsPort | None = None,
) -> Services:
    if db is None:
        from shared.store import open_database

        db = open_database(os.path.join(settings.data_dir, "store"), settings.fdb_cluster_file)
    if secrets is None:
        if settings.secrets_backend == "gcp":
            from shared.secrets import SecretManagerSecrets

            secrets = SecretManagerSecrets(settings.gcp_project)
        else:
            from shared.secrets import LocalSecrets

            secrets = LocalSecrets(os.path.join(settings.data_dir, "secrets"))
    if events is None:
        if settings.events_backend == "pubsub":
            from shared.events import PubSubEvents

            events = PubSubEvents(settings.gcp_project)
        else:
            from shared.events import LocalEvents

            events = LocalEvents()
    from shared import web

    web.body_limit = settings.max_body_bytes
    return Services(settings, db, secrets, clock or SystemClock(), events)


def services() -> Services:
    global _current
    with _lock:
        if _current is None:
            from shared import logs

            settings = Settings.from_env()
            logs.configure(settings.service_name, settings.log_level, settings.gcp_project)
            _current = build(settings)
        return _current


def install(new: Services | None) -> None:
    """Use ``new`` for this process (tests, the local stack); ``None`` forgets it."""
    global _current
    with _lock:
        _current = new
