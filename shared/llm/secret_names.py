"""Names of the provider API keys read through the secrets port: one secret per provider.

A provider whose secret has no version is absent from ``/v1/models``. Terraform declares each.
"""

OPENAI_API_KEY = "llm-openai-api-key"
ANTHROPIC_API_KEY = "llm-anthropic-api-key"
GEMINI_API_KEY = "llm-gemini-api-key"
MISTRAL_API_KEY = "llm-mistral-api-key"
GROQ_API_KEY = "llm-groq-api-key"
DEEPSEEK_API_KEY = "llm-deepseek-api-key"
XAI_API_KEY = "llm-xai-api-key"
OPENROUTER_API_KEY = "llm-openrouter-api-key"

ALL = (
    OPENAI_API_KEY,
    ANTHROPIC_API_KEY,
    GEMINI_API_KEY,
    MISTRAL_API_KEY,
    GROQ_API_KEY,
    DEEPSEEK_API_KEY,
    XAI_API_KEY,
    OPENROUTER_API_KEY,
)

# Not a provider key: the secret workspace LLM keys are derived from (keys.py). Only the gateway's
# records of keys (SHA-256) are in the store; the provisioner re-derives a key to write it to a pod.
KEY_DERIVATION_SECRET = "llm-key-derivation-secret"
