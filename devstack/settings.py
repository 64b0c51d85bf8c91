"""Settings of the local stack itself (``make dev``), read with the same mechanism as the
platform's (shared/envconfig.py) and listed in docs/environment.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.envconfig import EnvSettings, env


@dataclass(frozen=True)
class DevstackSettings(EnvSettings):
    port: int = env("PORT", 8080, "Port of the local origin (every function, the app).", gt=0)
    event_workers: int = env(
        "CODITECT_EVENT_WORKERS",
        16,
        "Concurrent local Pub/Sub deliveries (each provisioner delivery waits for its pod).",
        gt=0,
    )
    oidc_mock_port: int = env(
        "CODITECT_OIDC_MOCK_PORT", 0, "Port of the Google sign-in stand-in; 0: any free port."
    )
    kube_ready_delay: float = env(
        "KUBE_STANDIN_READY_DELAY",
        2.0,
        "Seconds until a pod of the Kubernetes API stand-in turns Ready.",
        ge=0,
    )
    kube_port: int = env(
        "KUBE_STANDIN_PORT", 0, "Port of the Kubernetes API stand-in; 0: any free port."
    )
    web_build: bool = env(
        "CODITECT_WEB_BUILD",
        True,
        "Build the web app (web/) at start when its sources changed; 0: serve what is built.",
    )
    ide: Literal["theia", "placeholder"] = env(
        "CODITECT_IDE",
        "theia",
        "The IDE behind each local workspace's sidecar: theia (built from ide/) or placeholder "
        "(a light page, for fast runs).",
    )
    ide_build: bool = env(
        "CODITECT_IDE_BUILD",
        True,
        "Build the IDE (ide/) at start when its inputs changed (with CODITECT_IDE=theia); 0: run "
        "what is built.",
    )
    llm_port: int = env(
        "CODITECT_LLM_PORT",
        0,
        "Port of the LLM gateway (the origin relays /api/llm/v1 to it); 0: any free port.",
        ge=0,
    )
    idle_cleanup_seconds: float = env(
        "CODITECT_IDLE_CLEANUP_SECONDS",
        60.0,
        "How often the local stack runs idle cleanup (Cloud Scheduler's job in production).",
        gt=0,
    )


if __name__ == "__main__":
    from shared.settings import environment_table

    print(environment_table([DevstackSettings]), end="")
