"""Settings of the OAuth sign-in area (a section of shared.settings.Settings).

Endpoints are configuration, so tests and the local stack point them at stand-ins. Client ids
and client secrets come from the secrets port under ``shared.secret_names`` (never from here);
the ``CODITECT_<PROVIDER>_CLIENT_ID`` variables below are only a fallback for deployments made
before the ids moved there, used when the port holds no id (docs/oauth.md).
"""

from dataclasses import dataclass

from shared.envconfig import EnvSettings, env

GOOGLE = "google"
GITHUB = "github"
PROVIDERS = (GOOGLE, GITHUB)

# Google publishes everything else (authorize, token, JWKS, issuer) in its discovery document.
GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"
GITHUB_AUTHORIZE_URL = "https://github.com/login/oauth/authorize"
GITHUB_TOKEN_URL = "https://github.com/login/oauth/access_token"
GITHUB_API_URL = "https://api.github.com"


@dataclass(frozen=True)
class OAuthSettings(EnvSettings):
    google_client_id: str = env(
        "CODITECT_GOOGLE_CLIENT_ID",
        "",
        "Deprecated fallback for Google's client id (the secrets port holds it).",
    )
    google_discovery_url: str = env(
        "CODITECT_GOOGLE_DISCOVERY_URL", GOOGLE_DISCOVERY_URL, "Google's OIDC discovery document."
    )
    github_client_id: str = env(
        "CODITECT_GITHUB_CLIENT_ID",
        "",
        "Deprecated fallback for GitHub's client id (the secrets port holds it).",
    )
    github_authorize_url: str = env(
        "CODITECT_GITHUB_AUTHORIZE_URL", GITHUB_AUTHORIZE_URL, "GitHub's authorize endpoint."
    )
    github_token_url: str = env(
        "CODITECT_GITHUB_TOKEN_URL", GITHUB_TOKEN_URL, "GitHub's token endpoint."
    )
    github_api_url: str = env("CODITECT_GITHUB_API_URL", GITHUB_API_URL, "GitHub's API base.")
    app_url: str = env(
        "CODITECT_OAUTH_APP_URL",
        "",
        "Where the browser lands after the callback; empty: the public origin's root.",
    )
    state_seconds: int = env(
        "CODITECT_OAUTH_STATE_SECONDS",
        600,
        "How long a sign-in may take (/start to /callback).",
        gt=0,
    )
    # The one-time code the app exchanges for tokens.
    code_seconds: int = 60
    leeway_seconds: int = env(
        "CODITECT_OAUTH_LEEWAY_SECONDS",
        60,
        "Accepted clock difference with the identity provider (id_token times).",
        ge=0,
    )
    http_timeout_seconds: float = 10.0

    def client_id(self, provider: str) -> str:
        """The deprecated environment fallback for a provider's client id ("" when unset)."""
        return {GOOGLE: self.google_client_id, GITHUB: self.github_client_id}.get(provider, "")
