"""The model catalog: every model the gateway serves, its provider, price and plans, in one file.

Prices are USD per million tokens (input, output) as the providers publish them; cost is recorded
in micro-dollars. ``fallback`` names the next model of the same family, tried when the upstream
keeps failing before the first byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.secret_names import (
    LLM_ANTHROPIC_API_KEY,
    LLM_DEEPSEEK_API_KEY,
    LLM_GEMINI_API_KEY,
    LLM_GROQ_API_KEY,
    LLM_MISTRAL_API_KEY,
    LLM_OPENAI_API_KEY,
    LLM_OPENROUTER_API_KEY,
    LLM_XAI_API_KEY,
)

Wire = Literal["openai", "anthropic"]
ALL_PLANS = ("free", "starter", "pro")
PAID = ("starter", "pro")
PRO = ("pro",)


@dataclass(frozen=True)
class Provider:
    name: str
    base_url: str  # production endpoint; settings may point it elsewhere (stand-ins)
    secret: str  # the secrets port name of its API key
    wire: Wire
    # Whether the upstream accepts ``stream_options.include_usage`` (Mistral sends usage anyway).
    stream_usage_option: bool = True


@dataclass(frozen=True)
class Model:
    id: str
    provider: str
    upstream: str
    context: int
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    plans: tuple[str, ...]
    fallback: str | None = None
    max_output: int = 8192

    def cost_micro_usd(self, input_tokens: int, output_tokens: int) -> int:
        # USD per million tokens is micro-dollars per token.
        return round(
            input_tokens * self.input_usd_per_mtok + output_tokens * self.output_usd_per_mtok
        )


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider("openai", "https://api.openai.com/v1", LLM_OPENAI_API_KEY, "openai"),
        Provider(
            "anthropic",
            "https://api.anthropic.com/v1",
            LLM_ANTHROPIC_API_KEY,
            "anthropic",
        ),
        Provider(
            "gemini",
            "https://generativelanguage.googleapis.com/v1beta/openai",
            LLM_GEMINI_API_KEY,
            "openai",
        ),
        Provider(
            "mistral",
            "https://api.mistral.ai/v1",
            LLM_MISTRAL_API_KEY,
            "openai",
            stream_usage_option=False,
        ),
        Provider("groq", "https://api.groq.com/openai/v1", LLM_GROQ_API_KEY, "openai"),
        Provider("deepseek", "https://api.deepseek.com/v1", LLM_DEEPSEEK_API_KEY, "openai"),
        Provider("xai", "https://api.x.ai/v1", LLM_XAI_API_KEY, "openai"),
        Provider(
            "openrouter",
            "https://openrouter.ai/api/v1",
            LLM_OPENROUTER_API_KEY,
            "openai",
        ),
    )
}

MODELS: dict[str, Model] = {
    m.id: m
    for m in (
        # OpenAI
        Model("gpt-4.1", "openai", "gpt-4.1", 1_047_576, 2.0, 8.0, PRO, "gpt-4.1-mini", 32768),
        Model(
            "gpt-4.1-mini", "openai", "gpt-4.1-mini", 1_047_576, 0.4, 1.6, ALL_PLANS, None, 32768
        ),
        Model("gpt-4o", "openai", "gpt-4o", 128_000, 2.5, 10.0, PAID, "gpt-4o-mini", 16384),
        Model("gpt-4o-mini", "openai", "gpt-4o-mini", 128_000, 0.15, 0.6, ALL_PLANS, None, 16384),
        Model("o4-mini", "openai", "o4-mini", 200_000, 1.1, 4.4, PAID, "gpt-4.1-mini", 100_000),
        # Anthropic (Messages API, translated)
        Model(
            "claude-opus-4",
            "anthropic",
            "claude-opus-4-20250514",
            200_000,
            15.0,
            75.0,
            PRO,
            "claude-sonnet-4",
            32000,
        ),
        Model(
            "claude-sonnet-4",
            "anthropic",
            "claude-sonnet-4-20250514",
            200_000,
            3.0,
            15.0,
            PAID,
            "claude-3-5-haiku",
            64000,
        ),
        Model(
            "claude-3-5-haiku",
            "anthropic",
            "claude-3-5-haiku-20241022",
            200_000,
            0.8,
            4.0,
            ALL_PLANS,
            None,
            8192,
        ),
        # Google Gemini (OpenAI-compatible endpoint)
        Model(
            "gemini-2.5-pro",
            "gemini",
            "gemini-2.5-pro",
            1_048_576,
            1.25,
            10.0,
            PRO,
            "gemini-2.5-flash",
            65536,
        ),
        Model(
            "gemini-2.5-flash",
            "gemini",
            "gemini-2.5-flash",
            1_048_576,
            0.3,
            2.5,
            ALL_PLANS,
            None,
            65536,
        ),
        # Mistral
        Model(
            "mistral-large",
            "mistral",
            "mistral-large-latest",
            128_000,
            2.0,
            6.0,
            PAID,
            "mistral-small",
        ),
        Model("mistral-small", "mistral", "mistral-small-latest", 32_000, 0.1, 0.3, ALL_PLANS),
        Model("codestral", "mistral", "codestral-latest", 256_000, 0.3, 0.9, ALL_PLANS),
        # Groq
        Model(
            "llama-3.3-70b",
            "groq",
            "llama-3.3-70b-versatile",
            131_072,
            0.59,
            0.79,
            ALL_PLANS,
            "llama-3.1-8b",
            32768,
        ),
        Model("llama-3.1-8b", "groq", "llama-3.1-8b-instant", 131_072, 0.05, 0.08, ALL_PLANS),
        # DeepSeek
        Model(
            "deepseek-reasoner",
            "deepseek",
            "deepseek-reasoner",
            64_000,
            0.55,
            2.19,
            PAID,
            "deepseek-chat",
            32768,
        ),
        Model("deepseek-chat", "deepseek", "deepseek-chat", 64_000, 0.27, 1.1, ALL_PLANS),
        # xAI
        Model("grok-3", "xai", "grok-3", 131_072, 3.0, 15.0, PRO, "grok-3-mini"),
        Model("grok-3-mini", "xai", "grok-3-mini", 131_072, 0.3, 0.5, PAID),
        # OpenRouter
        Model(
            "qwen-2.5-coder-32b",
            "openrouter",
            "qwen/qwen-2.5-coder-32b-instruct",
            32_768,
            0.07,
            0.16,
            ALL_PLANS,
        ),
        Model(
            "llama-4-maverick",
            "openrouter",
            "meta-llama/llama-4-maverick",
            1_048_576,
            0.15,
            0.6,
            PAID,
        ),
    )
}


def chain(model_id: str) -> list[Model]:
    """The model and its fallbacks, in order, without repeats."""
    out: list[Model] = []
    current: str | None = model_id
    while current and current in MODELS and all(m.id != current for m in out):
        out.append(MODELS[current])
        current = MODELS[current].fallback
    return out
