"""The auth function's self-service routes for a signed-in account: sessions, passwords,
connected accounts, personal API tokens, deletion and export (``shared.api.auth`` serves them)."""

from __future__ import annotations

from typing import Any

from shared.accounts.clients import remember_client
from shared.accounts.notices import mail_owner, publish_stops
from shared.accounts.password_flows import password_notice, reset_mail
from shared.accounts.requests import (
    CreateApiTokenRequest,
    DeleteAccountRequest,
    PasswordChangeRequest,
    PasswordResetConfirm,
    PasswordResetRequest,
    PasswordSetRequest,
    ProfileUpdate,
)
from shared.claims import Claims
from shared.oauth.config import PROVIDERS
from shared.web import Reply, Router, bearer_token, read_json
from shared.wiring import Services, services

router = Router("auth")


# -- sessions ------------------------------------------------------------------------------------
def signed_in(request: Any) -> tuple[Services, Claims]:
    """The caller, signed in with a session (personal API tokens cannot manage the account)."""
    svc = services()
    return svc, svc.accounts.authenticate(bearer_token(request))


# -- profile -------------------------------------------------------------------------------------
@router.route(
    "PATCH",
    "/api/auth/me",
    summary="Change the profile's names (only the fields sent; empty clears)",
    body=ProfileUpdate,
    responses={200: "UserEnvelope"},
    errors=(403,),
    auth="bearer",
)
def update_profile(request: Any) -> Reply:
    svc, claims = signed_in(request)
    body = read_json(request, ProfileUpdate)
    return Reply(200, {"user": svc.accounts.update_profile(claims, body)})


@router.route(
    "GET",
    "/api/auth/sessions",
    summary="The account's sign-in sessions",
    responses={200: "SessionList"},
    errors=(403,),
    auth="bearer",
)
def list_sessions(request: Any) -> Reply:
    svc, claims = signed_in(request)
    return Reply(200, {"sessions": svc.sessions.list(claims)})


@router.route(
    "DELETE",
    "/api/auth/sessions/{session_id}",
    summary="End one session",
    responses={204: None},
    errors=(403, 404),
    auth="bearer",
)
def revoke_session(request: Any, session_id: str) -> Reply:
    svc, claims = signed_in(request)
    svc.sessions.revoke(claims, session_id)
    return Reply(204)


@router.route(
    "POST",
    "/api/auth/sessions/revoke-all",
    summary="Sign out everywhere (every session, IDE session and older access token)",
    responses={204: None},
    errors=(403,),
    auth="bearer",
)
def sign_out_everywhere(request: Any) -> Reply:
    svc, claims = signed_in(request)
    svc.sessions.sign_out_everywhere(claims)
    return Reply(204)


# -- passwords -----------------------------------------------------------------------------------
@router.route(
    "POST",
    "/api/auth/password/reset",
    summary="Mail a password reset link (the same answer whether or not the account exists)",
    body=PasswordResetRequest,
    responses={202: "Accepted"},
    errors=(429,),
)
def request_password_reset(request: Any) -> Reply:
    client = remember_client(request)
    body = read_json(request, PasswordResetRequest)
    svc = services()
    issued = svc.password_flows.request_reset(body.email, client.address)
    if issued is not None:
        user, token = issued
        mail_owner(svc, user, *reset_mail(svc.settings.public_url, token))
    # The same answer whether or not the address has an account.
    return Reply(202, {"status": "if the address has an account, a reset link is on its way"})


@router.route(
    "POST",
    "/api/auth/password/reset/confirm",
    summary="Set a new password from the mailed link (every session ends)",
    body=PasswordResetConfirm,
    responses={204: None},
)
def confirm_password_reset(request: Any) -> Reply:
    body = read_json(request, PasswordResetConfirm)
    svc = services()
    user = svc.password_flows.confirm_reset(body.token, body.new_password)
    mail_owner(svc, user, *password_notice("reset"))
    return Reply(204)


@router.route(
    "POST",
    "/api/auth/password/change",
    summary="Change the password (other sessions end)",
    body=PasswordChangeRequest,
    responses={204: None},
    errors=(403, 409, 429),
    auth="bearer",
)
def change_password(request: Any) -> Reply:
    svc, claims = signed_in(request)
    body = read_json(request, PasswordChangeRequest)
    user = svc.password_flows.change(claims, body.current_password, body.new_password)
    mail_owner(svc, user, *password_notice("changed"))
    return Reply(204)


@router.route(
    "POST",
    "/api/auth/password/set",
    summary="Set a first password on a Google/GitHub-only account",
    body=PasswordSetRequest,
    responses={204: None},
    errors=(403, 409),
    auth="bearer",
)
def set_password(request: Any) -> Reply:
    svc, claims = signed_in(request)
    body = read_json(request, PasswordSetRequest)
    user = svc.password_flows.set_first(claims, body.new_password)
    mail_owner(svc, user, *password_notice("set"))
    return Reply(204)


# -- connected accounts --------------------------------------------------------------------------
@router.route(
    "GET",
    "/api/auth/connections",
    summary="Linked Google/GitHub identities and whether the account has a password",
    responses={200: "ConnectionList"},
    errors=(403,),
    auth="bearer",
)
def list_connections(request: Any) -> Reply:
    svc, claims = signed_in(request)
    return Reply(200, svc.connections.list(claims))


@router.route(
    "POST",
    "/api/auth/connections/{provider}/link",
    summary="Start linking a Google/GitHub identity (the URL to send the browser to)",
    responses={200: "Url"},
    errors=(403, 404, 409),
    auth="bearer",
    choices={"provider": PROVIDERS},
)
def link_connection(request: Any, provider: str) -> Reply:
    """Starts the provider's flow for the signed-in user: the app sends the browser to ``url``
    (this answer's cookie is the flow's state, as /start sets it)."""
    from shared.api.oauth import link_reply  # the same flow as POST /api/auth/oauth/{p}/link

    svc, claims = signed_in(request)
    return link_reply(svc, claims, provider)


@router.route(
    "DELETE",
    "/api/auth/connections/{provider}/{subject}",
    summary="Unlink a Google/GitHub identity (never the last sign-in method)",
    responses={204: None},
    errors=(403, 404, 409),
    auth="bearer",
    choices={"provider": PROVIDERS},
    opaque=("subject",),
)
def unlink_connection(request: Any, provider: str, subject: str) -> Reply:
    svc, claims = signed_in(request)
    svc.connections.unlink(claims, provider, subject)
    return Reply(204)


# -- personal API tokens -------------------------------------------------------------------------
@router.route(
    "POST",
    "/api/auth/tokens",
    summary="Create a personal API token (its secret is shown once)",
    body=CreateApiTokenRequest,
    responses={201: "ApiTokenCreated"},
    errors=(403, 409),
    auth="bearer",
)
def create_api_token(request: Any) -> Reply:
    svc, claims = signed_in(request)
    body = read_json(request, CreateApiTokenRequest)
    return Reply(201, svc.api_tokens.create(claims, body.name, body.scope, body.expires_in_days))


@router.route(
    "GET",
    "/api/auth/tokens",
    summary="The account's personal API tokens (no secrets)",
    responses={200: "ApiTokenList"},
    errors=(403,),
    auth="bearer",
)
def list_api_tokens(request: Any) -> Reply:
    svc, claims = signed_in(request)
    return Reply(200, {"tokens": svc.api_tokens.list(claims)})


@router.route(
    "DELETE",
    "/api/auth/tokens/{token_id}",
    summary="Revoke a personal API token",
    responses={204: None},
    errors=(403, 404),
    auth="bearer",
)
def revoke_api_token(request: Any, token_id: str) -> Reply:
    svc, claims = signed_in(request)
    svc.api_tokens.revoke(claims, token_id)
    return Reply(204)


# -- deletion and export -------------------------------------------------------------------------
@router.route(
    "POST",
    "/api/auth/delete-account",
    summary="Delete the account, its workspaces and subscription",
    body=DeleteAccountRequest,
    responses={204: None},
    errors=(403, 429, 502, 503),
    auth="bearer",
)
def delete_account(request: Any) -> Reply:
    svc, claims = signed_in(request)
    body = read_json(request, DeleteAccountRequest)

    def cancel(tenant_id: str) -> list[str]:
        from shared.billing.records import get_billing

        if svc.db.transact(lambda tr: get_billing(tr, tenant_id)) is None:
            return []  # never a Stripe customer: billing need not even be configured
        return svc.billing.cancel_subscriptions(tenant_id)

    deleted = svc.account_deletion.run(claims, body.password, cancel)
    publish_stops(svc, claims["tid"], claims["sub"], deleted.workspaces_deleted)
    mail_owner(svc, deleted.user, *deletion_notice())
    return Reply(204)


@router.route(
    "GET",
    "/api/auth/export",
    summary="The account's data as a JSON download",
    responses={200: "AccountExport"},
    errors=(403,),
    auth="bearer",
)
def export_account(request: Any) -> Reply:
    svc, claims = signed_in(request)
    return Reply(
        200,
        svc.account_deletion.export(claims),
        {"Content-Disposition": 'attachment; filename="coditect-account.json"'},
    )


def deletion_notice() -> tuple[str, str]:
    text = (
        "Your Coditect account was deleted: its workspaces and their files are being removed,\n"
        "its subscription was canceled, and this address can sign up again. Invoices and the\n"
        "records the law requires are kept as our privacy notice says.\n"
    )
    return "Your Coditect account was deleted", text
