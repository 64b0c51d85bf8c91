"""The gateway's settings, read once from the environment (to be folded into shared.settings)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.llm.catalog import PROVIDERS


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    return default if not raw else float(raw)


@dataclass(frozen=True)
class LlmSettings:
    # Provider base URLs that differ from the catalog's (the local stand-ins, a regional endpoint).
    base_urls: dict[str, str] = field(default_factory=dict)
    # Attempts per model on 429/5xx/connect errors, before the first byte only.
    attempts_per_model: int = 2
    retry_backoff_seconds: float = 0.05
    connect_timeout_seconds: float = 5.0
    # Time to the upstream's response headers; a slower upstream counts as failed.
    first_byte_timeout_seconds: float = 60.0
    # Longest silence inside a stream before it is ended with an error event.
    read_timeout_seconds: float = 120.0
    # Where Theia reaches the gateway (ends in /v1).
    public_base_url: str = "http://127.0.0.1:8080/api/llm/v1"
    max_body_bytes: int = 4 * 1024 * 1024
    # Usage records are written in one transaction per this many seconds (lost on a crash: that
    # much usage detail, never the monthly count, which is reserved before forwarding).
    usage_flush_seconds: float = 0.25
    # A reserved block of requests unused this long goes back to the tenant's monthly count.
    block_idle_seconds: float = 10.0

    def base_url(self, provider: str) -> str:
        return self.base_urls.get(provider) or PROVIDERS[provider].base_url

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LlmSettings:
        env = os.environ if env is None else env
        urls = {
            name: env[f"CODITECT_LLM_{name.upper()}_URL"]
            for name in PROVIDERS
            if env.get(f"CODITECT_LLM_{name.upper()}_URL")
        }
        public = env.get("CODITECT_PUBLIC_URL", "http://127.0.0.1:8080").rstrip("/")
        return cls(
            base_urls=urls,
            attempts_per_model=int(env.get("CODITECT_LLM_ATTEMPTS", "2")),
            first_byte_timeout_seconds=_float(env, "CODITECT_LLM_FIRST_BYTE_TIMEOUT", 60.0),
            read_timeout_seconds=_float(env, "CODITECT_LLM_READ_TIMEOUT", 120.0),
            public_base_url=env.get("CODITECT_LLM_PUBLIC_URL", f"{public}/api/llm/v1"),
        )
