"""Names of every secret the code reads through the secrets port (Secret Manager in production).

Terraform declares each of these; a test checks that it does. Add a name here before reading it.
"""

SIGNING_KEY = "jwt-signing-key"
STRIPE_API_KEY = "stripe-api-key"
STRIPE_WEBHOOK_SECRET = "stripe-webhook-secret"
# OAuth client ids are public (they appear in every authorize URL) but are kept next to their
# secrets so one place configures a provider; see docs/oauth.md.
GOOGLE_OAUTH_CLIENT_ID = "google-oauth-client-id"
GOOGLE_OAUTH_CLIENT_SECRET = "google-oauth-client-secret"
GITHUB_OAUTH_CLIENT_ID = "github-oauth-client-id"
GITHUB_OAUTH_CLIENT_SECRET = "github-oauth-client-secret"
# The SMTP submission password of the mail port (shared/mail.py); the host and user are settings.
SMTP_PASSWORD = "smtp-password"
# The LLM gateway's provider API keys, one per provider (shared/llm/catalog.py): a provider whose
# secret has no version is absent from /v1/models.
LLM_OPENAI_API_KEY = "llm-openai-api-key"
LLM_ANTHROPIC_API_KEY = "llm-anthropic-api-key"
LLM_GEMINI_API_KEY = "llm-gemini-api-key"
LLM_MISTRAL_API_KEY = "llm-mistral-api-key"
LLM_GROQ_API_KEY = "llm-groq-api-key"
LLM_DEEPSEEK_API_KEY = "llm-deepseek-api-key"
LLM_XAI_API_KEY = "llm-xai-api-key"
LLM_OPENROUTER_API_KEY = "llm-openrouter-api-key"
# Not a provider key: workspace LLM keys are derived from it (shared/llm/keys.py). The store keeps
# only their SHA-256; the provisioner re-derives a key to write it into the workspace's pod.
LLM_KEY_DERIVATION_SECRET = "llm-key-derivation-secret"

LLM_PROVIDER_KEYS = (
    LLM_OPENAI_API_KEY,
    LLM_ANTHROPIC_API_KEY,
    LLM_GEMINI_API_KEY,
    LLM_MISTRAL_API_KEY,
    LLM_GROQ_API_KEY,
    LLM_DEEPSEEK_API_KEY,
    LLM_XAI_API_KEY,
    LLM_OPENROUTER_API_KEY,
)

ALL = (
    SIGNING_KEY,
    STRIPE_API_KEY,
    STRIPE_WEBHOOK_SECRET,
    GOOGLE_OAUTH_CLIENT_ID,
    GOOGLE_OAUTH_CLIENT_SECRET,
    GITHUB_OAUTH_CLIENT_ID,
    GITHUB_OAUTH_CLIENT_SECRET,
    SMTP_PASSWORD,
    *LLM_PROVIDER_KEYS,
    LLM_KEY_DERIVATION_SECRET,
)
