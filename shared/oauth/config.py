"""Settings of the OAuth sign-in area, read once from the environment.

Endpoints are configuration, so tests and the local stack point them at stand-ins. Client ids
and client secrets come from the secrets port under ``shared.secret_names`` (never from here);
the ``CODITECT_<PROVIDER>_CLIENT_ID`` variables below are only a fallback for deployments made
before the ids moved there, used when the port holds no id (docs/oauth.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from shared.settings import env_int

GOOGLE = "google"
GITHUB = "github"
PROVIDERS = (GOOGLE, GITHUB)

# Google publishes everything else (authorize, token, JWKS, issuer) in its discovery document.
GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"
GITHUB_AUTHORIZE_URL = "https://github.com/login/oauth/authorize"
GITHUB_TOKEN_URL = "https://github.com/login/oauth/access_token"
GITHUB_API_URL = "https://api.github.com"


@dataclass(frozen=True)
class OAuthSettings:
    # Deprecated fallbacks for the client ids, which now come from the secrets port
    # (google-oauth-client-id, github-oauth-client-id); used only when the port has none.
    google_client_id: str = ""
    google_discovery_url: str = GOOGLE_DISCOVERY_URL
    github_client_id: str = ""
    github_authorize_url: str = GITHUB_AUTHORIZE_URL
    github_token_url: str = GITHUB_TOKEN_URL
    github_api_url: str = GITHUB_API_URL
    # Where the browser lands after the callback; empty = the public origin's root.
    app_url: str = ""
    # How long a sign-in may take between /start and /callback (the state cookie's life).
    state_seconds: int = 600
    # The one-time code the app exchanges for tokens (the issue fixes it at 60 s).
    code_seconds: int = 60
    # Accepted clock difference with the identity provider when checking id_token times.
    leeway_seconds: int = 60
    http_timeout_seconds: float = 10.0

    def client_id(self, provider: str) -> str:
        """The deprecated environment fallback for a provider's client id ("" when unset)."""
        return {GOOGLE: self.google_client_id, GITHUB: self.github_client_id}.get(provider, "")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OAuthSettings:
        env = os.environ if env is None else env
        return cls(
            google_client_id=env.get("CODITECT_GOOGLE_CLIENT_ID", ""),
            google_discovery_url=env.get("CODITECT_GOOGLE_DISCOVERY_URL", GOOGLE_DISCOVERY_URL),
            github_client_id=env.get("CODITECT_GITHUB_CLIENT_ID", ""),
            github_authorize_url=env.get("CODITECT_GITHUB_AUTHORIZE_URL", GITHUB_AUTHORIZE_URL),
            github_token_url=env.get("CODITECT_GITHUB_TOKEN_URL", GITHUB_TOKEN_URL),
            github_api_url=env.get("CODITECT_GITHUB_API_URL", GITHUB_API_URL),
            app_url=env.get("CODITECT_OAUTH_APP_URL", ""),
            state_seconds=env_int(env, "CODITECT_OAUTH_STATE_SECONDS", 600),
            leeway_seconds=env_int(env, "CODITECT_OAUTH_LEEWAY_SECONDS", 60),
        )
