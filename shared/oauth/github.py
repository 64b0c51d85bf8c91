"""GitHub OAuth: code exchange (with PKCE), then ``/user`` and ``/user/emails``.

The identity is GitHub's numeric user id: logins can be renamed and then re-used by someone else,
so a login never identifies anybody. Only the primary email, and only if GitHub has verified it,
is used.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from shared.oauth.common import ClientCredentials, Http, Identity, log
from shared.oauth.errors import OAuthFailure

API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


class GitHubProvider:
    name = "github"

    def __init__(self, authorize_url: str, token_url: str, api_url: str, http: Http) -> None:
        self._authorize_url = authorize_url
        self._token_url = token_url
        self._api_url = api_url.rstrip("/")
        self._http = http

    def authorize_url(
        self,
        client: ClientCredentials,
        *,
        redirect_uri: str,
        state: str,
        challenge: str,
        nonce: str,
    ) -> str:
        # OAuth 2.0 has no nonce; the state cookie and PKCE bind the flow to the browser.
        params = {
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "scope": "read:user user:email",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "allow_signup": "true",
        }
        return self._authorize_url + "?" + urlencode(params)

    def fetch_identity(
        self,
        client: ClientCredentials,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str,
        nonce: str,
    ) -> Identity:
        status, body = self._http.request(
            "POST",
            self._token_url,
            data={
                "client_id": client.client_id,
                "client_secret": client.client_secret,
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            },
        )
        # GitHub reports a bad code with 200 and {"error": ...}.
        token = body.get("access_token") if isinstance(body, dict) else None
        if status != 200 or not isinstance(token, str) or not token:
            error = body.get("error") if isinstance(body, dict) else None
            log.warning(
                "github code exchange refused",
                extra={"fields": {"status": status, "error": str(error)[:100]}},
            )
            raise OAuthFailure("code_exchange_failed", f"token endpoint answered {status}")
        headers = {**API_HEADERS, "Authorization": f"Bearer {token}"}
        user = self._http.get_json(f"{self._api_url}/user", headers)
        emails = self._http.get_json(f"{self._api_url}/user/emails", headers)
        user_id = user.get("id") if isinstance(user, dict) else None
        # bool is an int in Python; a numeric id is never a boolean.
        if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
            raise OAuthFailure("provider_error", "GitHub user has no numeric id")
        primary = _primary_email(emails)
        if primary is None:
            raise OAuthFailure("email_missing", "GitHub account has no primary email")
        first, last = _split_name(user.get("name"))
        return Identity(
            provider=self.name,
            subject=str(user_id),
            email=primary["email"],
            email_verified=primary.get("verified") is True,
            first_name=first,
            last_name=last,
        )


def _primary_email(emails: Any) -> dict[str, Any] | None:
    if not isinstance(emails, list):
        raise OAuthFailure("provider_error", "GitHub emails are not a list")
    for entry in emails:
        if isinstance(entry, dict) and entry.get("primary") is True:
            if isinstance(entry.get("email"), str) and entry["email"]:
                return entry
    return None


def _split_name(name: Any) -> tuple[str | None, str | None]:
    if not isinstance(name, str) or not name.strip():
        return None, None
    first, _, last = name.strip().partition(" ")
    return first[:100], (last.strip()[:100] or None)
