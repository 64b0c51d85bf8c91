"""Sidecar configuration, read once from the environment.

Every setting lives here, under a one-line comment. A missing or malformed value raises
ConfigError naming the variable, and ``python -m sidecar`` exits non-zero with that message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit


class ConfigError(Exception):
    """A required variable is missing or malformed; the message names it."""


@dataclass(frozen=True, slots=True)
class Config:
    # Identity of this workspace and its owner: tokens must match these exactly.
    workspace_id: str
    user_id: str
    tenant_id: str
    # Platform token verification: JWKS document and expected `iss`.
    jwks_url: str
    token_issuer: str
    # Where to report activity, and the workspace credential for that endpoint (never logged):
    # ACTIVITY_TOKEN, or ACTIVITY_TOKEN_FILE naming a file that holds it (a mounted Secret).
    activity_url: str
    activity_token: str = field(repr=False)
    # Theia (or the placeholder IDE) on loopback; only plain http://host:port is supported.
    upstream_url: str = "http://127.0.0.1:3000"
    listen_host: str = "0.0.0.0"
    listen_port: int = 8080
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9090
    # The one origin allowed to frame the IDE (the app's IDE tabs), e.g. https://coditect.dev;
    # empty: the origin of JWKS_URL (the platform serves its keys on its public origin).
    app_origin: str = ""
    # `__Host-`: Secure, Path=/, no Domain, so no other host can set or overwrite it.
    cookie_name: str = "__Host-coditect_ws_session"
    # Session cookie lifetime; re-issued when used past half of it.
    session_ttl_seconds: int = 900
    # Absolute limit from the launch: past it no renewal, the user launches again.
    session_max_lifetime_seconds: int = 12 * 3600
    # At most one activity heartbeat per interval; retries back off from the base delay.
    activity_interval_seconds: float = 60.0
    activity_retry_base_seconds: float = 1.0
    # The page's input beacon (activity.js) posts at most once per this many seconds.
    activity_beacon_seconds: float = 30.0
    # Largest HTML document buffered to inject activity.js; bigger ones stream through as-is.
    inject_max_bytes: int = 2 * 1024 * 1024
    # Unknown `kid` refetches the JWKS at most once per this many seconds.
    jwks_refetch_interval_seconds: float = 60.0
    # Known keys are refreshed at most this long after the last fetch.
    jwks_cache_ttl_seconds: float = 600.0
    # Launch tokens must not live longer than this (exp - iat).
    launch_token_max_lifetime_seconds: int = 120
    # Clock skew tolerated on exp/iat.
    token_leeway_seconds: int = 10
    # Concurrent proxied connections (HTTP requests in flight + open WebSockets).
    max_connections: int = 2048
    # Largest client->upstream WebSocket message and HTTP request body we forward.
    max_ws_message_bytes: int = 64 * 1024 * 1024
    max_request_body_bytes: int = 1024 * 1024 * 1024
    # Upstream timeouts: connect, and the longest silence while waiting for a response.
    upstream_connect_timeout_seconds: float = 5.0
    upstream_read_timeout_seconds: float = 60.0
    # SIGTERM: how long open connections may keep running before they are closed.
    shutdown_grace_seconds: float = 25.0
    log_level: str = "INFO"

    @property
    def upstream_host(self) -> str:
        return urlsplit(self.upstream_url).hostname or "127.0.0.1"

    @property
    def upstream_port(self) -> int:
        return urlsplit(self.upstream_url).port or 80

    @property
    def audience(self) -> str:
        return f"workspace:{self.workspace_id}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        r = _Reader(env)
        # With slots=True, class attributes are descriptors; read defaults from the fields.
        d: dict[str, Any] = {f.name: f.default for f in fields(cls)}
        jwks_url = r.url("JWKS_URL", required=True)
        cfg = cls(
            workspace_id=r.required("WORKSPACE_ID"),
            user_id=r.required("USER_ID"),
            tenant_id=r.required("TENANT_ID"),
            jwks_url=jwks_url,
            token_issuer=r.required("TOKEN_ISSUER"),
            activity_url=r.url("ACTIVITY_URL", required=True),
            activity_token=r.secret("ACTIVITY_TOKEN"),
            upstream_url=r.upstream_url("UPSTREAM_URL", d["upstream_url"]),
            listen_host=r.optional("LISTEN_HOST", d["listen_host"]),
            listen_port=r.port("LISTEN_PORT", d["listen_port"]),
            metrics_host=r.optional("METRICS_HOST", d["metrics_host"]),
            metrics_port=r.port("METRICS_PORT", d["metrics_port"]),
            app_origin=r.origin("APP_ORIGIN", origin_of(jwks_url)),
            session_ttl_seconds=int(r.number("SESSION_TTL_SECONDS", d["session_ttl_seconds"])),
            session_max_lifetime_seconds=int(
                r.number("SESSION_MAX_LIFETIME_SECONDS", d["session_max_lifetime_seconds"])
            ),
            activity_interval_seconds=r.number(
                "ACTIVITY_INTERVAL_SECONDS", d["activity_interval_seconds"]
            ),
            activity_retry_base_seconds=r.number(
                "ACTIVITY_RETRY_BASE_SECONDS", d["activity_retry_base_seconds"]
            ),
            activity_beacon_seconds=r.number(
                "ACTIVITY_BEACON_SECONDS", d["activity_beacon_seconds"]
            ),
            inject_max_bytes=int(r.number("INJECT_MAX_BYTES", d["inject_max_bytes"])),
            jwks_refetch_interval_seconds=r.number(
                "JWKS_REFETCH_INTERVAL_SECONDS", d["jwks_refetch_interval_seconds"]
            ),
            max_connections=int(r.number("MAX_CONNECTIONS", d["max_connections"])),
            max_ws_message_bytes=int(r.number("MAX_WS_MESSAGE_BYTES", d["max_ws_message_bytes"])),
            max_request_body_bytes=int(
                r.number("MAX_REQUEST_BODY_BYTES", d["max_request_body_bytes"])
            ),
            upstream_connect_timeout_seconds=r.number(
                "UPSTREAM_CONNECT_TIMEOUT_SECONDS", d["upstream_connect_timeout_seconds"]
            ),
            upstream_read_timeout_seconds=r.number(
                "UPSTREAM_READ_TIMEOUT_SECONDS", d["upstream_read_timeout_seconds"]
            ),
            shutdown_grace_seconds=r.number("SHUTDOWN_GRACE_SECONDS", d["shutdown_grace_seconds"]),
            log_level=r.choice("LOG_LEVEL", d["log_level"], ("DEBUG", "INFO", "WARNING", "ERROR")),
        )
        if cfg.listen_port == cfg.metrics_port:
            raise ConfigError("METRICS_PORT must differ from LISTEN_PORT")
        if cfg.session_max_lifetime_seconds < cfg.session_ttl_seconds:
            raise ConfigError("SESSION_MAX_LIFETIME_SECONDS must be at least SESSION_TTL_SECONDS")
        return cfg


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def _get(self, name: str) -> str | None:
        value = self._env.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def required(self, name: str) -> str:
        value = self._get(name)
        if value is None:
            raise ConfigError(f"{name} is required but not set")
        return value

    def secret(self, name: str) -> str:
        """``name`` itself, or the contents of the file ``<name>_FILE`` names (one, not both)."""
        path = self._get(f"{name}_FILE")
        if path is None:
            return self.required(name)
        if self._get(name) is not None:
            raise ConfigError(f"set {name} or {name}_FILE, not both")
        try:
            with open(path, encoding="utf-8") as handle:
                value = handle.read().strip()
        except OSError as error:
            raise ConfigError(f"{name}_FILE cannot be read: {error.strerror}") from None
        if not value:
            raise ConfigError(f"{name}_FILE names an empty file")
        return value

    def optional(self, name: str, default: str) -> str:
        return self._get(name) or default

    def url(self, name: str, *, required: bool) -> str:
        value = self.required(name) if required else self._get(name)
        parts = urlsplit(value or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")
        return value or ""

    def origin(self, name: str, default: str) -> str:
        """``scheme://host[:port]``, nothing after it: a value for CSP ``frame-ancestors``."""
        value = self._get(name) or default
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            raise ConfigError(f"{name} has an invalid port, got {value!r}") from None
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or any(c in value for c in " ;,'\"")
        ):
            raise ConfigError(f"{name} must be an origin like https://host[:port], got {value!r}")
        return origin_of(value)

    def upstream_url(self, name: str, default: str) -> str:
        value = self._get(name) or default
        parts = urlsplit(value)
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"{name} has an invalid port, got {value!r}") from None
        if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
            raise ConfigError(f"{name} must look like http://host:port, got {value!r}")
        if port is None:
            raise ConfigError(f"{name} must include a port, got {value!r}")
        return value.rstrip("/")

    def port(self, name: str, default: int) -> int:
        value = self._get(name)
        if value is None:
            return default
        if not value.isdigit() or not 1 <= int(value) <= 65535:
            raise ConfigError(f"{name} must be a port number 1-65535, got {value!r}")
        return int(value)

    def number(self, name: str, default: float) -> float:
        value = self._get(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {value!r}") from None
        if not number > 0:
            raise ConfigError(f"{name} must be positive, got {value!r}")
        return number

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = (self._get(name) or default).upper()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value
