"""Builds the services each function uses, from settings, once per process.

Functions call ``services()``; it builds lazily (nothing heavy at import time, for cold starts)
and caches. Tests and the local stack build their own with ``build(...)`` and ``install(...)``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from shared.clock import Clock, SystemClock
from shared.events import EventsPort
from shared.secrets import SecretsPort
from shared.settings import Settings
from shared.store import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    secrets: SecretsPort
    clock: Clock
    events: EventsPort
    extras: dict[str, Any]

    @property
    def tokens(self) -> Any:
        return self.get_or_create("tokens", self._make_tokens)

    @property
    def accounts(self) -> Any:
        from shared.accounts import AccountService

        return self.get_or_create(
            "accounts", lambda: AccountService(self.db, self.tokens, self.clock, self.settings)
        )

    def _make_tokens(self) -> Any:
        from shared.tokens import Keyring, TokenService

        keyring = Keyring(
            self.secrets,
            self.settings.signing_key_secret,
            generate_if_missing=self.settings.secrets_backend == "local",
        )
        return TokenService(keyring, self.clock, self.settings.issuer)

    def get_or_create(self, name: str, make: Any) -> Any:
        """A service built on first use and kept: each area adds its own this way."""
        with _lock:
            if name not in self.extras:
                self.extras[name] = make()
            return self.extras[name]


_lock = threading.RLock()
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
    return Services(settings, db, secrets, clock or SystemClock(), events, {})


def services() -> Services:
    global _current
    with _lock:
        if _current is None:
            from shared import logs

            settings = Settings.from_env()
            logs.configure(os.environ.get("K_SERVICE", "coditect"), settings.log_level)
            _current = build(settings)
        return _current


def install(new: Services | None) -> None:
    """Use ``new`` for this process (tests, the local stack); ``None`` forgets it."""
    global _current
    with _lock:
        _current = new
