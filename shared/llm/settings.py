"""The LLM gateway's settings (a section of shared.settings.Settings, field ``llm``).

The URL Theia is given (``CODITECT_LLM_PUBLIC_URL``) defaults from the public origin:
``Settings.llm_public_url`` resolves it, since this section does not see ``CODITECT_PUBLIC_URL``.
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.envconfig import EnvSettings, env
from shared.llm.catalog import PROVIDERS

URL_PREFIX = "CODITECT_LLM_"
URL_SUFFIX = "_URL"


def url_variable(provider: str) -> str:
    return f"{URL_PREFIX}{provider.upper()}{URL_SUFFIX}"


@dataclass(frozen=True)
class LlmSettings(EnvSettings):
    # Provider base URLs that differ from the catalog's (the local stand-ins, a regional
    # endpoint), from CODITECT_LLM_<PROVIDER>_URL.
    base_urls: dict[str, str] = dataclasses.field(default_factory=dict)
    attempts_per_model: int = env(
        "CODITECT_LLM_ATTEMPTS",
        2,
        "Attempts per model on 429/5xx/connection errors (before the first byte only), "
        "then the catalog's fallback model.",
        ge=1,
    )
    retry_backoff_seconds: float = 0.05
    connect_timeout_seconds: float = 5.0
    first_byte_timeout_seconds: float = env(
        "CODITECT_LLM_FIRST_BYTE_TIMEOUT",
        60.0,
        "Seconds to an upstream's first event; a slower upstream counts as failed.",
        gt=0,
    )
    read_timeout_seconds: float = env(
        "CODITECT_LLM_READ_TIMEOUT",
        120.0,
        "Longest silence inside a stream before it ends with an error event.",
        gt=0,
    )
    public_url: str = env(
        "CODITECT_LLM_PUBLIC_URL",
        "",
        "Where workspaces reach the gateway (ends in /v1; written into Theia's settings); "
        "empty: CODITECT_PUBLIC_URL + /api/llm/v1.",
    )
    port: int = env(
        "PORT",
        8080,
        "Port the gateway service listens on (`python -m shared.llm`; Cloud Run).",
        gt=0,
    )
    max_body_bytes: int = 4 * 1024 * 1024
    key_cache_seconds: float = env(
        "CODITECT_LLM_KEY_CACHE_SECONDS",
        5.0,
        "Seconds an instance reuses a workspace key's authorization (owner and plan) before "
        "reading it again; a revoked key or a plan change takes effect that much later. 0: "
        "read on every request.",
        ge=0,
    )
    # Usage records are written in one transaction per this many seconds (lost on a crash: that
    # much usage detail, never the monthly count, which is reserved before forwarding).
    usage_flush_seconds: float = 0.25
    # A reserved block of requests unused this long goes back to the tenant's monthly count.
    block_idle_seconds: float = 10.0

    ENV_PATTERNS = (
        (
            url_variable("<PROVIDER>"),
            "",
            "Base URL of one provider's API (OPENAI, ANTHROPIC, GEMINI, MISTRAL, GROQ, DEEPSEEK, "
            "XAI, OPENROUTER); empty: the catalog's (shared/llm/catalog.py).",
        ),
    )

    @classmethod
    def from_variables(cls, values: Mapping[str, str]) -> dict[str, Any]:
        urls = {name: values.get(url_variable(name)) for name in PROVIDERS}
        return {"base_urls": {name: url for name, url in urls.items() if url}}

    def check(self) -> None:
        unknown = set(self.base_urls) - set(PROVIDERS)
        if unknown:
            raise ValueError(f"base URLs for unknown providers: {sorted(unknown)}")
        for url in (*self.base_urls.values(), *([self.public_url] if self.public_url else [])):
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"not an http(s) URL: {url!r}")

    def base_url(self, provider: str) -> str:
        return self.base_urls.get(provider) or PROVIDERS[provider].base_url
