"""Every setting, read once from the environment and validated at start-up.

One mechanism for every area (shared/envconfig.py): each settings class is a frozen dataclass
whose fields name their environment variable, say what they mean and carry their bounds.
``Settings.from_env`` reads the core settings and every area's section together, so a missing or
malformed variable fails the process at start-up with the variable's name, not the first request
that needs it. ``environment_table`` renders the documentation of every variable
(docs/environment.md, kept current by a test).

The classes stay plain frozen dataclasses (``dataclasses.replace`` works; tests and the local
stack build them directly, checked the same way, without the process environment leaking in).
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.billing.settings import BillingSettings
from shared.envconfig import EnvSettings, env, read_env, variable_of
from shared.llm.settings import LlmSettings
from shared.mail import MailSettings
from shared.oauth.config import OAuthSettings
from shared.secret_names import SIGNING_KEY
from shared.workspaces.config import WorkspaceSettings

SECTIONS: dict[str, type] = {
    # field of Settings -> its class: every area's settings, read with the core's.
    "workspaces": WorkspaceSettings,
    "billing": BillingSettings,
    "oauth": OAuthSettings,
    "mail": MailSettings,
    "llm": LlmSettings,
}


@dataclass(frozen=True)
class Settings(EnvSettings):
    data_dir: str = env(
        "CODITECT_DATA_DIR",
        ".coditect",
        "Where the embedded store, local secrets and the local outbox live (no FoundationDB).",
    )
    fdb_cluster_file: str = env(
        "FDB_CLUSTER_FILE", "", "FoundationDB cluster file; set in production, empty locally."
    )
    public_url: str = env(
        "CODITECT_PUBLIC_URL",
        "http://127.0.0.1:8080",
        "The public origin: the JWT issuer and the base of redirect URLs.",
    )
    api_audience: str = env("CODITECT_API_AUDIENCE", "coditect-api", "Audience of access tokens.")
    secrets_backend: str = env(
        "CODITECT_SECRETS",
        "local",
        "`local` (files under the data directory and CODITECT_SECRET_<NAME>) or `gcp`.",
        pattern="^(local|gcp)$",
    )
    gcp_project: str = env(
        "GOOGLE_CLOUD_PROJECT", "", "The Google Cloud project (Secret Manager, Pub/Sub, traces)."
    )
    signing_key_secret: str = env(
        "CODITECT_SIGNING_KEY_SECRET", SIGNING_KEY, "Secret holding the JWT signing keys."
    )
    events_backend: str = env(
        "CODITECT_EVENTS",
        "local",
        "`local` (in-process delivery) or `pubsub`.",
        pattern="^(local|pubsub)$",
    )
    access_token_seconds: int = env(
        "CODITECT_ACCESS_TOKEN_SECONDS", 15 * 60, "Lifetime of access tokens.", gt=0
    )
    refresh_token_seconds: int = env(
        "CODITECT_REFRESH_TOKEN_SECONDS", 30 * 24 * 3600, "Lifetime of refresh tokens.", gt=0
    )
    login_max_failures: int = env(
        "CODITECT_LOGIN_MAX_FAILURES",
        10,
        "Failed logins on an email from one client address within the window before that "
        "address gets 429 for the rest of it.",
        gt=0,
    )
    login_slow_after_failures: int = env(
        "CODITECT_LOGIN_SLOW_AFTER_FAILURES",
        3,
        "Failed logins on an email from one address after which each further attempt waits "
        "1 s, 2 s, 4 s, ... after the latest failure (429 with Retry-After meanwhile).",
        ge=0,
    )
    login_max_failures_per_email: int = env(
        "CODITECT_LOGIN_MAX_FAILURES_PER_EMAIL",
        100,
        "Failed logins on an email from all addresses together within the window before "
        "every attempt on it gets 429 (a guesser spread over many addresses).",
        gt=0,
    )
    login_failure_window_seconds: int = env(
        "CODITECT_LOGIN_WINDOW_SECONDS", 15 * 60, "Window of the failed-login counts.", gt=0
    )
    forwarded_for_position: int = env(
        "CODITECT_FORWARDED_FOR_POSITION",
        0,
        "Where the client address is in X-Forwarded-For, counted from the right: 2 behind "
        "Google's external Application Load Balancer (it appends `<client>, <its own "
        "address>`; entries further left come from the client and are not trusted); 0: "
        "ignore the header and use the connection's peer (the local stack).",
        ge=0,
    )
    max_body_bytes: int = env(
        "CODITECT_MAX_BODY_BYTES", 64 * 1024, "Largest JSON request body (413 above).", gt=0
    )
    log_level: str = env("LOG_LEVEL", "INFO", "Level of the JSON logs.")
    service_name: str = env(
        "K_SERVICE", "coditect", "The function's name in logs (set by Cloud Functions)."
    )
    kubeconfig: str = env(
        "KUBECONFIG",
        "",
        "Kubeconfig of the cluster the provisioner drives; empty: in-cluster when "
        "KUBERNETES_SERVICE_HOST is set, else ~/.kube/config.",
    )
    in_cluster_host: str = env(
        "KUBERNETES_SERVICE_HOST", "", "Set by Kubernetes inside a cluster (in-cluster config)."
    )
    # Every area's section, read from the same environment by from_env.
    workspaces: WorkspaceSettings = dataclasses.field(default_factory=WorkspaceSettings)
    billing: BillingSettings = dataclasses.field(default_factory=BillingSettings)
    oauth: OAuthSettings = dataclasses.field(default_factory=OAuthSettings)
    mail: MailSettings = dataclasses.field(default_factory=MailSettings)
    llm: LlmSettings = dataclasses.field(default_factory=LlmSettings)

    @property
    def issuer(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def llm_public_url(self) -> str:
        """Where workspaces reach the LLM gateway (Theia's ``url``; ends in ``/v1``)."""
        return (self.llm.public_url or f"{self.issuer}/api/llm/v1").rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """The core settings and every section, validated together (fails at start-up)."""
        core = read_env(cls, environ)
        sections: dict[str, Any] = {
            name: read_env(section, environ) for name, section in SECTIONS.items()
        }
        return dataclasses.replace(core, **sections)


# -- documentation -------------------------------------------------------------------------------
def settings_classes() -> list[type]:
    return [Settings, *SECTIONS.values()]


def environment_variables(classes: list[type] | None = None) -> list[tuple[str, str, str, str]]:
    """(variable, default, meaning, settings class) for every variable the classes read."""
    rows = []
    for cls in classes or settings_classes():
        for field in dataclasses.fields(cls):
            variable = variable_of(field)
            if variable is not None:
                rows.append((variable.name, _shown(field.default), variable.meaning, cls.__name__))
        for alias, default, meaning in getattr(cls, "ENV_PATTERNS", ()):
            rows.append((alias, default, meaning, cls.__name__))
    return rows


def _shown(default: Any) -> str:
    if default is None or default == "" or default == ():
        return ""
    if isinstance(default, tuple):
        return ",".join(str(x) for x in default)
    return str(default)


def environment_table(local_classes: list[type] | None = None) -> str:
    """The platform's variables, then the local stack's (``local_classes``, from devstack)."""
    lines = [
        "# Environment variables",
        "",
        "Generated from the settings classes by `python -m devstack.settings`; a test keeps it "
        "current. Every variable is read once at start-up (`Settings.from_env`), and a malformed "
        "one stops the process with its name. Secrets never come from here: they come from the "
        "secrets port (docs/deploy.md).",
        "",
        "| variable | default | meaning | read by |",
        "|---|---|---|---|",
    ]
    lines += _rows(environment_variables())
    if local_classes:
        lines += [
            "",
            "## The local stack (`make dev`) only",
            "",
            "| variable | default | meaning | read by |",
            "|---|---|---|---|",
            *_rows(environment_variables(local_classes)),
        ]
    return "\n".join(lines) + "\n"


def _rows(rows: list[tuple[str, str, str, str]]) -> list[str]:
    out = []
    for name, default, meaning, owner in rows:
        shown = f"`{default}`" if default else ""
        out.append(f"| `{name}` | {shown} | {meaning.replace('|', '/')} | `{owner}` |")
    return out
