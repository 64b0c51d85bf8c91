"""The oauth function: sign in with Google or GitHub, and the one-time code exchange.

Browser-facing steps (/start, /callback) answer with redirects; a failed callback sends the
browser to the app with ``?oauth_error=<code>`` (never a stack trace). The app then posts the
one-time code to /exchange and gets the usual token answer.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.accounts.users import public_user
from shared.api import schemas as s
from shared.errors import NotFound
from shared.oauth.config import PROVIDERS
from shared.oauth.cookie import COOKIE_NAME, clear_cookie_header
from shared.oauth.errors import OAuthFailure
from shared.web import Reply, Router, read_json
from shared.wiring import services

log = logging.getLogger("coditect.oauth")
router = Router("oauth")
# The one-time code and provider answers must not leak to the next site through Referer.
NO_REFERRER = {"Referrer-Policy": "no-referrer"}


class ExchangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=256)


@router.route(
    "GET",
    "/api/auth/oauth/{provider}/start",
    summary="Redirect to Google or GitHub (state, PKCE, nonce)",
    responses={302: None},
    errors=(404,),
    choices={"provider": PROVIDERS},
)
def start(request: Any, provider: str) -> Reply:
    service = services().oauth
    try:
        redirect = service.start(provider)  # 404 (JSON) when the provider is not configured
    except OAuthFailure as failure:  # e.g. the provider's discovery document is unreachable
        log.warning(
            "oauth sign-in could not start",
            extra={"fields": {"provider": provider, "code": failure.code, "why": failure.detail}},
        )
        return Reply(
            302, None, {"Location": service.app_redirect(provider, oauth_error=failure.code)}
        )
    return Reply(302, None, {"Location": redirect.location, "Set-Cookie": redirect.set_cookie})


@router.route(
    "GET",
    "/api/auth/oauth/{provider}/callback",
    summary="Sign in or sign up, then redirect to the app (with a one-time code or an error)",
    responses={302: None},
    errors=(404,),
    query=("state", "code", "error"),
    choices={"provider": PROVIDERS},
)
def callback(request: Any, provider: str) -> Reply:
    service = services().oauth
    if provider not in PROVIDERS:
        raise NotFound(f"unknown sign-in provider {provider!r}", code="unknown_provider")
    # The flow ends here whatever happens: the cookie has done its job.
    headers = {"Set-Cookie": clear_cookie_header(service.callback_path(provider)), **NO_REFERRER}
    args = {k: request.args.get(k, "") for k in ("state", "code", "error")}
    try:
        location = service.callback(provider, args, request.cookies.get(COOKIE_NAME))
    except OAuthFailure as failure:
        log.warning(
            "oauth sign-in refused",
            extra={"fields": {"provider": provider, "code": failure.code, "why": failure.detail}},
        )
        location = service.app_redirect(provider, oauth_error=failure.code)
    except Exception:
        log.exception("oauth callback failed", extra={"fields": {"provider": provider}})
        location = service.app_redirect(provider, oauth_error="server_error")
    return Reply(302, None, {"Location": location, **headers})


@router.route(
    "POST",
    "/api/auth/oauth/exchange",
    summary="Trade the one-time code for tokens",
    body=ExchangeRequest,
    responses={200: s.OAuthSignedIn},
)
def exchange(request: Any) -> Reply:
    body = read_json(request, ExchangeRequest)
    user, tokens, sign_in = services().oauth.exchange(body.code)
    return Reply(200, {"user": public_user(user), **tokens.public(), "sign_in": sign_in})


def handle(request: Any) -> Any:
    return router(request)
