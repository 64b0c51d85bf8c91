"""Email verification for password accounts, through the real auth function and the local outbox.

Sign-up mails a single-use link (``<public_url>/#verify_email=<token>``); the signed-in user posts
the token to ``/api/auth/verify-email``. Only the token's SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import pytest

from shared.accounts.email_verification import (
    EMAIL_TOKEN_SECONDS,
    RESEND_LIMIT,
    RESEND_WINDOW_SECONDS,
)
from shared.logs import CloudLoggingFormatter
from shared.mail import MailSettings, SmtpMail
from shared.store.keys import INDEXES, TENANTS
from tests.auth.mailbox import link_of, only_mail_to, outbox
from tests.conftest import bearer, free_port, register

PASSWORD = "correct horse battery"


def dump(services: Any) -> list[tuple[bytes, bytes]]:
    return services.db.transact(lambda tr: tr.get_range(b"", b"\xff"))


def verify(api: Any, session: dict[str, Any] | None, token: str) -> Any:
    headers = bearer(session) if session else {}
    return api.post("/api/auth/verify-email", json={"token": token}, headers=headers)


def resend(api: Any, session: dict[str, Any]) -> Any:
    return api.post("/api/auth/verify-email/resend", headers=bearer(session))


def error_code(response: Any) -> str:
    return response.get_json()["error"]["code"]


def audits(services: Any, tenant_id: str, kind: str) -> list[dict[str, Any]]:
    rows = services.db.transact(lambda tr: tr.get_range(*TENANTS[tenant_id].range("audit")))
    return [e for e in (json.loads(v) for _, v in rows) if e["type"] == kind]


def pending(services: Any, body: dict[str, Any]) -> dict[str, Any] | None:
    uid, tid = body["user"]["user_id"], body["user"]["tenant_id"]
    raw = services.db.transact(lambda tr: tr.get(TENANTS[tid].key("email_verification", uid)))
    return json.loads(raw) if raw else None


def test_sign_up_mails_one_link_that_verifies_the_email(api, services):
    body = register(api, "Ada@Example.com", PASSWORD)
    assert body["user"]["email_verified"] is False

    [message] = outbox(services)
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Confirm your email for Coditect"
    origin, token = link_of(message)
    assert origin == "http://testserver"  # the public origin; the token is in the fragment
    assert len(token) >= 43  # 256 random bits

    # only the token's hash is stored: under the tenant, and an id-only global index
    record = pending(services, body)
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert record["token_sha256"] == digest and record["email"] == "ada@example.com"
    assert record["expires_at"] == services.clock.now() + EMAIL_TOKEN_SECONDS
    index = services.db.transact(lambda tr: tr.get(INDEXES.key("email_verification", digest)))
    assert json.loads(index) == {
        "user_id": body["user"]["user_id"],
        "tenant_id": body["user"]["tenant_id"],
    }
    assert token.encode() not in b"".join(k + v for k, v in dump(services))

    verified = verify(api, body, token)
    assert verified.status_code == 200, verified.get_data(as_text=True)
    assert verified.get_json()["user"]["email_verified"] is True
    assert verified.get_json()["user"]["user_id"] == body["user"]["user_id"]
    me = api.get("/api/auth/me", headers=bearer(body)).get_json()
    assert me["user"]["email_verified"] is True

    # the token is consumed with the record and its index, and the change is audited once
    assert pending(services, body) is None
    assert (
        services.db.transact(lambda tr: tr.get(INDEXES.key("email_verification", digest))) is None
    )
    [event] = audits(services, body["user"]["tenant_id"], "user.email_verified")
    assert event == {**event, "user_id": body["user"]["user_id"], "method": "email"}
    # nothing else happened to the account: the password and the session still work
    login = api.post("/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert login.status_code == 200
    refreshed = api.post("/api/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert refreshed.status_code == 200


def test_a_token_works_once(api, services):
    body = register(api)
    token = only_mail_to(services, "ada@example.com")
    assert verify(api, body, token).status_code == 200
    before = dump(services)
    again = verify(api, body, token)
    assert (again.status_code, error_code(again)) == (400, "invalid_token")
    assert dump(services) == before


def test_a_token_expires_after_24_hours(api, services, clock):
    body = register(api)
    token = only_mail_to(services, "ada@example.com")
    clock.advance(EMAIL_TOKEN_SECONDS)
    assert api.get("/api/auth/me", headers=bearer(body)).status_code == 401  # access token aged
    session = api.post("/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    before = dump(services)
    expired = verify(api, session.get_json(), token)
    assert (expired.status_code, error_code(expired)) == (400, "token_expired")
    assert dump(services) == before  # nothing written on error
    assert resend(api, session.get_json()).status_code == 204
    fresh = link_of(outbox(services)[-1])[1]
    assert verify(api, session.get_json(), fresh).status_code == 200


def test_a_token_is_good_until_just_before_its_expiry(api, services, clock):
    body = register(api)
    token = only_mail_to(services, "ada@example.com")
    clock.advance(EMAIL_TOKEN_SECONDS - 1)
    session = api.post("/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert verify(api, session.get_json(), token).status_code == 200
    assert body["user"]["user_id"] == session.get_json()["user"]["user_id"]


def test_wrong_tokens_and_bad_requests_change_nothing(api, services):
    body = register(api)
    token = only_mail_to(services, "ada@example.com")
    before = dump(services)
    for wrong in ("x" * 43, token[:-1], token + "A", "not a token"):
        response = verify(api, body, wrong)
        assert (response.status_code, error_code(response)) == (400, "invalid_token"), wrong
    no_session = verify(api, None, token)
    assert (no_session.status_code, error_code(no_session)) == (401, "unauthorized")
    cases = [
        ({"token": ""}, 422),
        ({"token": "a" * 257}, 422),
        ({"token": token, "extra": 1}, 422),
        ({}, 422),
    ]
    for payload, status in cases:
        response = api.post("/api/auth/verify-email", json=payload, headers=bearer(body))
        assert response.status_code == status, payload
    text = api.post(
        "/api/auth/verify-email", data=token, headers={**bearer(body), "Content-Type": "text/plain"}
    )
    assert text.status_code == 415
    assert dump(services) == before
    assert verify(api, body, token).status_code == 200  # the real one still works


def test_someone_elses_link_verifies_nothing(api, services):
    """Someone signs up with another person's address; that person gets the mail.

    Following the link without the registrant's password must not vouch for the account (else a
    pre-registered password would survive the owner's later Google sign-in), and a different
    signed-in account cannot use it either.
    """
    registrant = register(api, "victim@example.com", "attacker knows this one")
    token = only_mail_to(services, "victim@example.com")
    other = register(api, "grace@example.com", PASSWORD)
    before = dump(services)
    assert verify(api, None, token).status_code == 401
    wrong_account = verify(api, other, token)
    assert (wrong_account.status_code, error_code(wrong_account)) == (400, "invalid_token")
    assert dump(services) == before
    me = api.get("/api/auth/me", headers=bearer(registrant)).get_json()
    assert me["user"]["email_verified"] is False


def test_resend_replaces_the_link_and_is_rate_limited(api, services, clock):
    body = register(api)
    first = only_mail_to(services, "ada@example.com")
    tid = body["user"]["tenant_id"]
    tokens = []
    for n in range(RESEND_LIMIT):
        response = resend(api, body)
        assert response.status_code == 204, response.get_data(as_text=True)
        messages = outbox(services)
        assert len(messages) == n + 2 and messages[-1]["To"] == "ada@example.com"
        tokens.append(link_of(messages[-1])[1])
        clock.advance(60)
    assert len({*tokens, first}) == RESEND_LIMIT + 1
    assert len(audits(services, tid, "user.email_verification_resent")) == RESEND_LIMIT

    before = dump(services)
    limited = resend(api, body)
    assert (limited.status_code, error_code(limited)) == (429, "too_many_requests")
    # the oldest resend leaves the window after an hour: 5 minutes have passed since it
    assert int(limited.headers["Retry-After"]) == RESEND_WINDOW_SECONDS - RESEND_LIMIT * 60
    assert len(outbox(services)) == RESEND_LIMIT + 1 and dump(services) == before

    # only the newest link works (each resend retires the previous one, index entry included)
    for old in [first, *tokens[:-1]]:
        assert error_code(verify(api, body, old)) == "invalid_token"
    index = services.db.transact(lambda tr: tr.get_range(*INDEXES.range("email_verification")))
    assert len(index) == 1

    clock.advance(RESEND_WINDOW_SECONDS - RESEND_LIMIT * 60)  # past the first access token too
    session = api.post("/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert resend(api, session.get_json()).status_code == 204
    newest = link_of(outbox(services)[-1])[1]
    assert verify(api, session.get_json(), newest).status_code == 200


def test_resend_needs_a_session_and_is_a_no_op_once_verified(api, services):
    body = register(api)
    missing = api.post("/api/auth/verify-email/resend")
    assert (missing.status_code, error_code(missing)) == (401, "unauthorized")
    assert verify(api, body, only_mail_to(services, "ada@example.com")).status_code == 200
    before = dump(services)
    assert resend(api, body).status_code == 204
    assert len(outbox(services)) == 1 and dump(services) == before


def test_a_failed_mail_does_not_fail_sign_up_and_resend_says_so(api, services, caplog):
    # A real SMTP adapter pointed at a port nobody listens on: the connection is refused.
    dead = MailSettings(backend="smtp", smtp_host="127.0.0.1", smtp_port=free_port())
    services.use(mail=SmtpMail(dead, services.secrets))
    caplog.set_level(logging.DEBUG)
    body = register(api)
    assert body["user"]["email_verified"] is False
    assert pending(services, body) is not None  # the token exists; only its mail is missing
    assert any(r.getMessage().startswith("verification mail not sent") for r in caplog.records)

    failed = resend(api, body)
    assert (failed.status_code, error_code(failed)) == (503, "mail_unavailable")

    # once mail works again, a resend delivers a link that verifies
    from shared.mail import LocalOutbox, outbox_directory

    services.use(mail=LocalOutbox(outbox_directory(services.settings.data_dir)))
    assert resend(api, body).status_code == 204
    assert verify(api, body, only_mail_to(services, "ada@example.com")).status_code == 200


def test_no_token_or_link_reaches_the_logs(api, services, caplog, clock):
    caplog.set_level(logging.DEBUG)
    body = register(api)
    first = only_mail_to(services, "ada@example.com")
    verify(api, body, "x" * 43)
    assert resend(api, body).status_code == 204
    second = link_of(outbox(services)[-1])[1]
    clock.advance(EMAIL_TOKEN_SECONDS)
    session = api.post("/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert error_code(verify(api, session.get_json(), second)) == "token_expired"
    assert resend(api, session.get_json()).status_code == 204
    third = link_of(outbox(services)[-1])[1]
    assert verify(api, session.get_json(), third).status_code == 200
    # and a failed send logs without the token too
    services.use(
        mail=SmtpMail(
            MailSettings(backend="smtp", smtp_host="127.0.0.1", smtp_port=free_port()),
            services.secrets,
        )
    )
    register(api, "grace@example.com", PASSWORD)

    formatter = CloudLoggingFormatter("test")
    lines = [formatter.format(r) for r in caplog.records]
    raw = [f"{r.getMessage()} {getattr(r, 'fields', '')} {r.args}" for r in caplog.records]
    assert any("mail written to the local outbox" in line for line in lines)
    assert any("verification mail not sent" in line for line in lines)
    for text in lines + raw:
        for token in (first, second, third):
            assert token not in text
        assert "verify_email" not in text


@pytest.mark.parametrize("backend", ["", "local"])
def test_the_local_outbox_is_the_default(backend, monkeypatch, services):
    from shared.mail import LocalOutbox

    services.replace_settings(mail=MailSettings.from_env({"CODITECT_MAIL": backend}))
    port = services.mail
    assert isinstance(port, LocalOutbox)
    assert port.directory.startswith(services.settings.data_dir)


def test_misconfigured_mail_fails_at_start_up_with_the_variables_name():
    from shared.envconfig import SettingsError
    from shared.settings import Settings

    with pytest.raises(SettingsError, match="CODITECT_SMTP_HOST"):
        Settings.from_env({"CODITECT_MAIL": "smtp"})  # and no CODITECT_SMTP_HOST
