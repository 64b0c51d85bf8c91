"""Every setting is read once, here, from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.secret_names import SIGNING_KEY


def env_int(env: Mapping[str, str], name: str, default: int) -> int:
    """An integer setting; unset or empty means the default, anything else must parse."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def env_float(env: Mapping[str, str], name: str, default: float) -> float:
    """A number setting; unset or empty means the default, anything else must parse."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    # Where the embedded store and local secrets live when no FoundationDB cluster is configured.
    data_dir: str = ".coditect"
    # FoundationDB cluster file; set in production, empty locally.
    fdb_cluster_file: str = ""
    # Public origin: the JWT issuer and the base of redirect URLs.
    public_url: str = "http://127.0.0.1:8080"
    api_audience: str = "coditect-api"
    # "local" (files under data_dir) or "gcp" (Secret Manager in gcp_project).
    secrets_backend: str = "local"
    gcp_project: str = ""
    signing_key_secret: str = SIGNING_KEY
    # "local" (in-process delivery) or "pubsub".
    events_backend: str = "local"
    access_token_seconds: int = 15 * 60
    refresh_token_seconds: int = 30 * 24 * 3600
    login_max_failures: int = 10
    login_failure_window_seconds: int = 15 * 60
    max_body_bytes: int = 64 * 1024
    log_level: str = "INFO"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return self.public_url.rstrip("/")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            data_dir=env.get("CODITECT_DATA_DIR", ".coditect"),
            fdb_cluster_file=env.get("FDB_CLUSTER_FILE", ""),
            public_url=env.get("CODITECT_PUBLIC_URL", "http://127.0.0.1:8080"),
            api_audience=env.get("CODITECT_API_AUDIENCE", "coditect-api"),
            secrets_backend=env.get("CODITECT_SECRETS", "local"),
            gcp_project=env.get("GOOGLE_CLOUD_PROJECT", env.get("GCP_PROJECT", "")),
            signing_key_secret=env.get("CODITECT_SIGNING_KEY_SECRET", SIGNING_KEY),
            events_backend=env.get("CODITECT_EVENTS", "local"),
            access_token_seconds=env_int(env, "CODITECT_ACCESS_TOKEN_SECONDS", 15 * 60),
            refresh_token_seconds=env_int(env, "CODITECT_REFRESH_TOKEN_SECONDS", 30 * 24 * 3600),
            login_max_failures=env_int(env, "CODITECT_LOGIN_MAX_FAILURES", 10),
            login_failure_window_seconds=env_int(env, "CODITECT_LOGIN_WINDOW_SECONDS", 15 * 60),
            log_level=env.get("LOG_LEVEL", "INFO"),
        )
