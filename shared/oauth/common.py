"""What the providers share: the identity they return, client credentials, JSON over HTTP."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from shared.oauth.errors import OAuthFailure

log = logging.getLogger("coditect.oauth")
MAX_RESPONSE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Identity:
    """A person as a provider vouches for them. ``subject`` is the provider's stable id."""

    provider: str
    subject: str
    email: str
    email_verified: bool
    first_name: str | None = None
    last_name: str | None = None


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str

    def __repr__(self) -> str:  # keeps the secret out of logs and tracebacks
        return f"ClientCredentials(client_id={self.client_id!r}, client_secret='[redacted]')"


class Http:
    """JSON over HTTPS with timeouts; any transport failure is ``provider_unavailable``."""

    def __init__(self, timeout: float, session: Any = None) -> None:
        self._timeout = timeout
        self._session = session

    def _get_session(self) -> Any:
        if self._session is None:
            import requests  # imported on first use: keeps cold start small

            self._session = requests.Session()
        return self._session

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """``(status, parsed JSON or None)``; raises :class:`OAuthFailure` when unreachable."""
        import requests

        try:
            # Streamed, so an endpoint answering without end cannot fill the memory.
            with self._get_session().request(
                method,
                url,
                headers={"Accept": "application/json", **(headers or {})},
                data=data,
                timeout=self._timeout,
                allow_redirects=False,
                stream=True,
            ) as response:
                raw = b""
                for chunk in response.iter_content(64 * 1024):
                    raw += chunk
                    if len(raw) > MAX_RESPONSE_BYTES:
                        log.warning(
                            "identity provider answered too much", extra={"fields": {"url": url}}
                        )
                        raise OAuthFailure("provider_error", f"{url} answered over 1 MiB")
                status = response.status_code
        except requests.RequestException as error:
            log.warning(
                "identity provider unreachable",
                extra={"fields": {"url": url, "error": type(error).__name__}},
            )
            raise OAuthFailure("provider_unavailable", type(error).__name__) from None
        try:
            body = json.loads(raw) if raw else None
        except ValueError:  # includes UnicodeDecodeError
            body = None
        return status, body

    def get_json(self, url: str, headers: dict[str, str] | None = None) -> Any:
        status, body = self.request("GET", url, headers=headers)
        if status != 200 or body is None:
            log.warning(
                "identity provider answered badly", extra={"fields": {"url": url, "status": status}}
            )
            raise OAuthFailure("provider_error", f"GET {url} answered {status}")
        return body


class Provider(Protocol):
    name: str

    def authorize_url(
        self,
        client: ClientCredentials,
        *,
        redirect_uri: str,
        state: str,
        challenge: str,
        nonce: str,
    ) -> str: ...

    def fetch_identity(
        self,
        client: ClientCredentials,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str,
        nonce: str,
    ) -> Identity: ...
