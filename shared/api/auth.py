"""The auth function: register, login, refresh, logout, me, and the JWKS."""

from __future__ import annotations

from typing import Any

from shared.accounts import LoginRequest, RefreshRequest, RegisterRequest, public_user
from shared.web import Reply, Router, bearer_token, read_json
from shared.wiring import services

router = Router("auth")


@router.route("GET", "/.well-known/jwks.json")
def jwks(request: Any) -> Reply:
    # Public keys change rarely; a short cache keeps verifiers fresh after a rotation.
    return Reply(200, services().tokens.jwks(), {"Cache-Control": "public, max-age=300"})


@router.route("POST", "/api/auth/register")
def register(request: Any) -> Reply:
    body = read_json(request, RegisterRequest)
    user, tokens = services().accounts.register(body)
    subscription = None
    if body.plan != "free":
        from shared.billing import billing_service  # only paid sign-ups load billing

        # The account exists on free whatever Stripe answers; a failure is reported, not raised.
        subscription = billing_service().start_signup_subscription(
            user, body.plan, body.payment_method_id
        )
    return Reply(201, {"user": public_user(user), **tokens.public(), "subscription": subscription})


@router.route("POST", "/api/auth/login")
def login(request: Any) -> Reply:
    body = read_json(request, LoginRequest)
    user, tokens = services().accounts.login(body)
    return Reply(200, {"user": public_user(user), **tokens.public()})


@router.route("POST", "/api/auth/refresh")
def refresh(request: Any) -> Reply:
    body = read_json(request, RefreshRequest)
    return Reply(200, services().accounts.refresh(body).public())


@router.route("POST", "/api/auth/logout")
def logout(request: Any) -> Reply:
    body = read_json(request, RefreshRequest)
    services().accounts.logout(body)
    return Reply(204)


@router.route("GET", "/api/auth/me")
def me(request: Any) -> Reply:
    accounts = services().accounts
    claims = accounts.authenticate(bearer_token(request))
    return Reply(200, accounts.me(claims))


def handle(request: Any) -> Any:
    return router(request)
