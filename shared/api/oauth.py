"""The oauth function: sign in with Google or GitHub, the one-time code exchange, and linking a
provider to the signed-in account.

Browser-facing steps (/start, /callback) answer with redirects; a failed callback sends the
browser to the app with ``?oauth_error=<code>`` (never a stack trace). The app then posts the
one-time code to /exchange (same origin: the browser adds the binding cookie set at /start) and
gets the usual token answer. ``POST /api/auth/oauth/{provider}/link`` (bearer) answers the
provider's URL and sets the link's state cookie; the callback then sends the browser to the app
with ``?oauth_linked=<provider>``.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.accounts.clients import remember_client
from shared.accounts.notices import after_take_back
from shared.accounts.users import public_user
from shared.claims import Claims
from shared.errors import NotFound
from shared.oauth.config import PROVIDERS
from shared.oauth.cookie import (
    BINDING_COOKIE_NAME,
    COOKIE_NAME,
    binding_cookie_header,
    clear_cookie_header,
    valid_binding,
)
from shared.oauth.errors import OAuthFailure
from shared.web import Reply, Router, bearer_token, read_json
from shared.wiring import Services, services

log = logging.getLogger("coditect.oauth")
router = Router("oauth")
# The one-time code and provider answers must not leak to the next site through Referer.
NO_REFERRER = {"Referrer-Policy": "no-referrer"}


class ExchangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built on first use
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
    return Reply(302, None, {"Location": redirect.location}, redirect.cookies)


@router.route(
    "POST",
    "/api/auth/oauth/{provider}/link",
    summary="Start linking Google or GitHub to the signed-in account (the URL to go to)",
    responses={200: "Url"},
    errors=(403, 404, 409),
    auth="bearer",
    choices={"provider": PROVIDERS},
)
def start_link(request: Any, provider: str) -> Reply:
    """The signed-in owner adds a sign-in method; the app navigates to the answered URL."""
    svc = services()
    return link_reply(svc, svc.accounts.authenticate(bearer_token(request)), provider)


def link_reply(svc: Services, claims: Claims, provider: str) -> Reply:
    """``{url}`` of the provider's flow for the signed-in owner, with the state cookie that names
    them (also answered by POST /api/auth/connections/{provider}/link)."""
    if provider not in PROVIDERS:
        raise NotFound(f"unknown sign-in provider {provider!r}", code="unknown_provider")
    redirect = svc.oauth.start_link(provider, claims)
    return Reply(200, {"url": redirect.location}, {}, redirect.cookies)


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
    svc = services()
    service = svc.oauth
    if provider not in PROVIDERS:
        raise NotFound(f"unknown sign-in provider {provider!r}", code="unknown_provider")
    # The flow ends here whatever happens: the cookie has done its job.
    cookies = [clear_cookie_header(service.callback_path(provider))]
    args = {k: request.args.get(k, "") for k in ("state", "code", "error")}
    binding = valid_binding(request.cookies.get(BINDING_COOKIE_NAME))
    try:
        location = service.callback(
            provider,
            args,
            request.cookies.get(COOKIE_NAME),
            binding,
            on_take_back=lambda fields: after_take_back(svc, fields),
        )
    except OAuthFailure as failure:
        log.warning(
            "oauth sign-in refused",
            extra={"fields": {"provider": provider, "code": failure.code, "why": failure.detail}},
        )
        location = service.app_redirect(provider, oauth_error=failure.code)
    except Exception:
        log.exception("oauth callback failed", extra={"fields": {"provider": provider}})
        location = service.app_redirect(provider, oauth_error="server_error")
    return Reply(302, None, {"Location": location, **NO_REFERRER}, cookies)


@router.route(
    "POST",
    "/api/auth/oauth/exchange",
    summary="Trade the one-time code for tokens",
    body=ExchangeRequest,
    responses={200: "OAuthSignedIn"},
)
def exchange(request: Any) -> Reply:
    remember_client(request)
    body = read_json(request, ExchangeRequest)
    svc = services()
    binding = valid_binding(request.cookies.get(BINDING_COOKIE_NAME))
    user, tokens, sign_in = svc.oauth.exchange(body.code, binding)
    # The binding has done its job; the next sign-in gets a fresh one at /start.
    secure = svc.settings.public_url.startswith("https://")
    cleared = binding_cookie_header("", 0, secure=secure)
    return Reply(
        200, {"user": public_user(user), **tokens.public(), "sign_in": sign_in}, {}, [cleared]
    )


def handle(request: Any) -> Any:
    return router(request)
