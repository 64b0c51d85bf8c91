"""Theia's user settings for a workspace pod: every model the plan allows, through the gateway.

The provisioner writes ``render_settings(...)`` as ``settings.json`` in the workspace's Secret
(``settings_data``; only that key is mounted in Theia's container, at ``$THEIA_CONFIG_DIR``),
and writes it again when the plan changes.
Theia reads ``ai-features.openAiCustom.customOpenAiModels`` (an OpenAI-compatible ``url`` and
``apiKey`` per model; it posts to ``<url>/chat/completions``) and resolves each alias of
``ai-features.languageModelAliases`` to its ``selectedModel``. Every ``default/*`` alias Theia's
agents ask for is mapped (the Coditect agent asks for ``default/universal``, Theia's own agents
for others), else Theia would look for a model it was never given. Theia's session-naming agent
is off: one chat message is one metered request. docs/ide.md has the facts checked against the
IDE build.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from shared.llm.catalog import MODELS, Model

SETTINGS_FILE = "settings.json"
ID_PREFIX = "coditect/"
CHAT_AGENT = "Coditect"  # ide/prompt-templates/agents/Coditect/agent.md
# Theia's agent that titles each chat session with a request of its own once the first answer is
# in: every such title would be a metered request against the user's plan that they never asked
# for, so it is off and a session keeps its first message as its title.
SESSION_NAMING_AGENT = "Chat Session Naming"
# Preferred models per Theia alias, best first; the first the plan allows is selected.
ALIASES: dict[str, tuple[str, ...]] = {
    "default/code": ("claude-sonnet-4", "gpt-4.1", "gpt-4o", "gpt-4.1-mini", "claude-3-5-haiku"),
    "default/universal": ("gpt-4.1", "claude-sonnet-4", "gpt-4o", "gpt-4.1-mini", "gpt-4o-mini"),
    "default/code-completion": ("codestral", "gpt-4.1-mini", "gpt-4o-mini", "llama-3.1-8b"),
    "default/summarize": ("gpt-4.1-mini", "gpt-4o-mini", "gemini-2.5-flash", "llama-3.1-8b"),
    "default/fast": ("gpt-4.1-mini", "gpt-4o-mini", "gemini-2.5-flash", "claude-3-5-haiku"),
}


def models_for_plan(plan: str) -> list[Model]:
    return [m for m in MODELS.values() if plan in m.plans]


def render_settings(models: list[Model], gateway_url: str, key: str) -> dict[str, Any]:
    """Theia settings (a JSON object) for ``models`` at ``gateway_url`` (ending in ``/v1``)."""
    custom = [
        {
            "model": m.id,
            "id": ID_PREFIX + m.id,
            "url": gateway_url,
            "apiKey": key,
            "enableStreaming": True,
            "developerMessageSettings": "system",
            "supportsStructuredOutput": m.provider != "anthropic",
        }
        for m in models
    ]
    offered = [m.id for m in models]
    aliases = {}
    for alias, preferred in ALIASES.items():
        # The plan's first model when it has none of the preferred ones: never an alias unset.
        ranked = [mid for mid in preferred if mid in offered] or offered[:1]
        if ranked:
            aliases[alias] = {"selectedModel": ID_PREFIX + ranked[0]}
    return {
        # Declared only by @theia/ai-ide (not in this application): harmless, kept for IDEs
        # that include it.
        "ai-features.AiEnable.enableAI": True,
        "ai-features.openAiCustom.customOpenAiModels": custom,
        "ai-features.languageModelAliases": aliases,
        "ai-features.chat.defaultChatAgent": CHAT_AGENT,
        "ai-features.agentSettings": {SESSION_NAMING_AGENT: {"enable": False}},
    }


def settings_data(settings: dict[str, Any]) -> dict[str, str]:
    """``settings.json`` as a Secret's data (it carries the workspace's key, hence a Secret)."""
    raw = json.dumps(settings, indent=2, sort_keys=True).encode()
    return {SETTINGS_FILE: base64.b64encode(raw).decode()}
