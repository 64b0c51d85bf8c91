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

ALL = (
    SIGNING_KEY,
    STRIPE_API_KEY,
    STRIPE_WEBHOOK_SECRET,
    GOOGLE_OAUTH_CLIENT_ID,
    GOOGLE_OAUTH_CLIENT_SECRET,
    GITHUB_OAUTH_CLIENT_ID,
    GITHUB_OAUTH_CLIENT_SECRET,
    SMTP_PASSWORD,
)
