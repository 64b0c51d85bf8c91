"""The auth function: register, login, refresh, logout, me, email verification, the JWKS, and
the account's self-service (its routes live in ``shared.api.account``)."""

from __future__ import annotations

import logging
from typing import Any

from shared.accounts.clients import remember_client
from shared.accounts.email_verification import new_email_token, send_email_verification
from shared.accounts.records import UserRecord
from shared.accounts.requests import (
    LoginRequest,
    RefreshRequest,
    RegisterRequest,
    VerifyEmailRequest,
)
from shared.accounts.users import public_user
from shared.api import account
from shared.errors import ApiError
from shared.web import Reply, Router, bearer_token, client_address, read_json
from shared.wiring import Services, services

router = Router("auth")
log = logging.getLogger("coditect.auth")


def mail_verification_link(svc: Services, user: UserRecord, token: str) -> bool:
    """Mail the link after the commit; ``False`` (logged) when it could not go out."""
    try:
        mail = svc.mail
    except ValueError:  # a mail adapter that cannot be built: the account exists all the same
        log.exception("mail port is misconfigured; verification mail not sent")
        return False
    return send_email_verification(mail, svc.settings.public_url, user, token)


@router.route(
    "GET", "/.well-known/jwks.json", summary="Public signing keys", responses={200: "Jwks"}
)
def jwks(request: Any) -> Reply:
    # Public keys change rarely; a short cache keeps verifiers fresh after a rotation.
    return Reply(200, services().tokens.jwks(), {"Cache-Control": "public, max-age=300"})


@router.route(
    "POST",
    "/api/auth/register",
    summary="Sign up (a paid plan starts its Stripe subscription)",
    body=RegisterRequest,
    responses={201: "Registered"},
    errors=(409,),
)
def register(request: Any) -> Reply:
    remember_client(request)
    body = read_json(request, RegisterRequest)
    svc = services()
    token = new_email_token()
    user, tokens = svc.accounts.register(body, verification_token=token)
    # After the commit: a mail that fails does not undo the sign-up (logged; the user can ask
    # again with /verify-email/resend).
    mail_verification_link(svc, user, token)
    subscription = None
    if body.plan != "free":
        # The account exists on free whatever Stripe answers; a failure is reported, not raised.
        subscription = svc.billing.start_signup_subscription(
            user, body.plan, body.payment_method_id
        )
    return Reply(201, {"user": public_user(user), **tokens.public(), "subscription": subscription})


@router.route(
    "POST",
    "/api/auth/login",
    summary="Sign in with email and password (throttled)",
    body=LoginRequest,
    responses={200: "SignedIn"},
    errors=(401, 429),
)
def login(request: Any) -> Reply:
    remember_client(request)
    body = read_json(request, LoginRequest)
    svc = services()
    client = client_address(request, svc.settings.forwarded_for_position)
    user, tokens = svc.accounts.login(body, client)
    return Reply(200, {"user": public_user(user), **tokens.public()})


@router.route(
    "POST",
    "/api/auth/refresh",
    summary="Rotate a refresh token (reuse revokes its family)",
    body=RefreshRequest,
    responses={200: "Tokens"},
    errors=(401,),
)
def refresh(request: Any) -> Reply:
    remember_client(request)
    body = read_json(request, RefreshRequest)
    return Reply(200, services().accounts.refresh(body).public())


@router.route(
    "POST",
    "/api/auth/logout",
    summary="End a session",
    body=RefreshRequest,
    responses={204: None},
    errors=(401,),
)
def logout(request: Any) -> Reply:
    body = read_json(request, RefreshRequest)
    services().accounts.logout(body)
    return Reply(204)


@router.route(
    "GET",
    "/api/auth/me",
    summary="The caller, plan, limits and usage",
    responses={200: "Me"},
    auth="bearer",
)
def me(request: Any) -> Reply:
    accounts = services().accounts
    claims = accounts.authenticate(bearer_token(request), scope="read")
    return Reply(200, accounts.me(claims))


@router.route(
    "POST",
    "/api/auth/verify-email",
    summary="Confirm the email with the mailed token",
    body=VerifyEmailRequest,
    responses={200: "UserEnvelope"},
    auth="bearer",
)
def verify_email(request: Any) -> Reply:
    svc = services()
    claims = svc.accounts.authenticate(bearer_token(request))
    body = read_json(request, VerifyEmailRequest)
    return Reply(200, {"user": public_user(svc.email_verifications.verify(claims, body.token))})


@router.route(
    "POST",
    "/api/auth/verify-email/resend",
    summary="Mail the verification link again (throttled)",
    responses={204: None},
    errors=(429, 503),
    auth="bearer",
)
def resend_verification(request: Any) -> Reply:
    svc = services()
    claims = svc.accounts.authenticate(bearer_token(request))
    renewed = svc.email_verifications.renew(claims)
    if renewed is not None:
        user, token = renewed
        if not mail_verification_link(svc, user, token):
            raise ApiError(
                "the verification mail could not be sent; try again later",
                code="mail_unavailable",
                status=503,
            )
    return Reply(204)


# The account's self-service (sessions, passwords, connections, API tokens, deletion) answers on
# this function too.
router.include(account.router)


@router.route(
    "GET",
    "/api/openapi.json",
    summary="This document",
    responses={200: "OpenApiDocument"},
)
def openapi(request: Any) -> Reply:
    from shared.openapi import document  # built on first request: cold start stays small

    return Reply(200, document(), {"Cache-Control": "public, max-age=300"})


def handle(request: Any) -> Any:
    return router(request)
