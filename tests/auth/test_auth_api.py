"""The auth rows of the public contract, through the real function on the local origin."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt
import pytest

from shared.store.keys import INDEXES, TENANTS
from tests.conftest import bearer, register

PASSWORD = "correct horse battery"


def all_keys(services) -> list[bytes]:
    return [k for k, _ in services.db.transact(lambda tr: tr.get_range(b"", b"\xff"))]


def error_of(response) -> tuple[int, str]:
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return response.status_code, body["error"]["code"]


# -- register ------------------------------------------------------------------------------------
def test_register_creates_tenant_user_and_session_in_one_go(api, services):
    body = register(api, email="  Ada.Lovelace@Example.COM ", first_name="Ada")
    user = body["user"]
    assert user["email"] == "ada.lovelace@example.com"
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    tid, uid = user["tenant_id"], user["user_id"]

    def read(tr):
        tenant = TENANTS[tid]
        return {
            "tenant": tr.get(tenant.key()),
            "user": tr.get(tenant.key("user", uid)),
            "credential": tr.get(tenant.key("credential", uid)),
            "license": tr.get(tenant.key("license")),
            "history": tr.get_range(*tenant.range("license_history")),
            "audit": tr.get_range(*tenant.range("audit")),
            "index": tr.get(INDEXES.key("email", "ada.lovelace@example.com")),
        }

    rows = services.db.transact(read)
    assert all(rows.values())
    assert json.loads(rows["index"]) == {"user_id": uid, "tenant_id": tid}
    assert json.loads(rows["license"])["plan"] == "free"
    # argon2id at OWASP's parameters, and the password itself is nowhere.
    stored = json.loads(rows["credential"])["password_hash"]
    assert stored.startswith("$argon2id$") and "m=19456,t=2,p=1" in stored
    assert PASSWORD.encode() not in b"".join(
        v for _, v in services.db.transact(lambda tr: tr.get_range(b"", b"\xff"))
    )


def test_register_paid_plan_starts_on_free(api):
    body = register(api, plan="pro")
    me = api.get("/api/auth/me", headers=bearer(body)).get_json()
    assert me["plan"] == "free"
    assert me["limits"]["running_workspaces"] == 1


def test_duplicate_email_is_409_whatever_the_case(api, services):
    register(api, email="dup@example.com")
    before = all_keys(services)
    response = api.post(
        "/api/auth/register", json={"email": "DUP@example.com", "password": PASSWORD}
    )
    assert error_of(response) == (409, "email_taken")
    assert all_keys(services) == before


@pytest.mark.parametrize(
    ("payload", "status", "code", "names"),
    [
        ({"email": "a@example.com", "password": "short"}, 422, "password_too_short", "10"),
        (
            {"email": "margaret@example.com", "password": "xxMargaret-2024"},
            422,
            "password_contains_email",
            "local part",
        ),
        ({"email": "not-an-email", "password": PASSWORD}, 422, "invalid_email", "email"),
        ({"password": PASSWORD}, 422, "validation_error", "email"),
        (
            {"email": "a@example.com", "password": PASSWORD, "plan": "gold"},
            422,
            "validation_error",
            "plan",
        ),
        (
            {"email": "a@example.com", "password": PASSWORD, "admin": True},
            422,
            "validation_error",
            "admin",
        ),
        ({"email": "a@example.com", "password": 12345678901}, 422, "validation_error", "password"),
    ],
)
def test_register_rejects_bad_input_and_writes_nothing(api, services, payload, status, code, names):
    before = all_keys(services)
    response = api.post("/api/auth/register", json=payload)
    assert error_of(response) == (status, code)
    assert names in response.get_json()["error"]["message"]
    assert all_keys(services) == before


def test_malformed_json_wrong_type_and_oversize_bodies(api, services):
    before = all_keys(services)
    bad_json = api.post("/api/auth/register", data="{not json", content_type="application/json")
    assert error_of(bad_json) == (400, "malformed_json")
    form = api.post("/api/auth/register", data="email=a", content_type="text/plain")
    assert error_of(form) == (415, "unsupported_media_type")
    huge = json.dumps({"email": "a@example.com", "password": "x" * (70 * 1024)})
    too_big = api.post("/api/auth/register", data=huge, content_type="application/json")
    assert error_of(too_big) == (413, "payload_too_large")
    not_object = api.post("/api/auth/register", json=[1, 2])
    assert error_of(not_object) == (422, "validation_error")
    assert all_keys(services) == before


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/auth/login", "email"),
        ("/api/auth/refresh", "refresh_token"),
        ("/api/auth/logout", "refresh_token"),
    ],
)
def test_every_body_endpoint_answers_bad_bodies_in_the_contract_shape(api, services, path, field):
    register(api, email="someone@example.com")
    before = all_keys(services)
    bad_json = api.post(path, data="{not json", content_type="application/json")
    assert error_of(bad_json) == (400, "malformed_json")
    assert error_of(api.post(path, data="x", content_type="text/plain")) == (
        415,
        "unsupported_media_type",
    )
    huge = json.dumps({field: "x" * (70 * 1024)})
    assert error_of(api.post(path, data=huge, content_type="application/json")) == (
        413,
        "payload_too_large",
    )
    missing = api.post(path, json={"unexpected": 1})
    assert error_of(missing) == (422, "validation_error")
    assert field in missing.get_json()["error"]["message"]
    assert all_keys(services) == before


def test_unknown_route_and_method(api):
    assert error_of(api.get("/api/auth/nothing-here")) == (404, "not_found")
    assert error_of(api.get("/api/no/such/path")) == (404, "not_found")  # other GETs: the app
    assert error_of(api.get("/api/auth/login"))[0] == 405


# -- login ---------------------------------------------------------------------------------------
def test_login_and_identical_answers_for_unknown_email_and_wrong_password(api):
    register(api, email="bob@example.com")
    ok = api.post("/api/auth/login", json={"email": "BOB@example.com", "password": PASSWORD})
    assert ok.status_code == 200 and ok.get_json()["access_token"]
    wrong = api.post("/api/auth/login", json={"email": "bob@example.com", "password": "nope" * 3})
    unknown = api.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()


# -- refresh and logout ----------------------------------------------------------------------------
def test_refresh_rotates_and_reuse_revokes_the_family(api):
    first = register(api)
    second = api.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    rotated = second.get_json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert api.get("/api/auth/me", headers=bearer(rotated)).status_code == 200
    # The old token comes back: the whole family ends, the newest token included.
    reuse = api.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert error_of(reuse) == (401, "refresh_token_reused")
    after = api.post("/api/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert error_of(after) == (401, "session_revoked")


def test_families_are_per_login(api):
    signup = register(api, email="two@example.com")
    login = api.post(
        "/api/auth/login", json={"email": "two@example.com", "password": PASSWORD}
    ).get_json()
    api.post("/api/auth/refresh", json={"refresh_token": signup["refresh_token"]})
    api.post("/api/auth/refresh", json={"refresh_token": signup["refresh_token"]})  # reuse
    # The other login's session is untouched.
    assert (
        api.post("/api/auth/refresh", json={"refresh_token": login["refresh_token"]}).status_code
        == 200
    )


def test_logout_revokes_and_is_204(api):
    body = register(api)
    response = api.post("/api/auth/logout", json={"refresh_token": body["refresh_token"]})
    assert response.status_code == 204 and response.get_data() == b""
    again = api.post("/api/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert error_of(again) == (401, "session_revoked")


def test_refresh_token_expires_after_thirty_days(api, clock):
    body = register(api)
    clock.advance(30 * 24 * 3600 + 1)
    response = api.post("/api/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert error_of(response) == (401, "token_expired")


def test_access_token_is_not_a_refresh_token_and_vice_versa(api):
    body = register(api)
    as_refresh = api.post("/api/auth/refresh", json={"refresh_token": body["access_token"]})
    assert error_of(as_refresh) == (401, "invalid_token")
    as_access = api.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {body['refresh_token']}"}
    )
    assert error_of(as_access) == (401, "invalid_token")


# -- me and token verification ---------------------------------------------------------------------
def test_me_shows_user_plan_limits_usage(api):
    body = register(api)
    me = api.get("/api/auth/me", headers=bearer(body))
    data = me.get_json()
    assert me.status_code == 200
    assert data["user"]["user_id"] == body["user"]["user_id"]
    assert data["plan"] == "free"
    assert data["limits"] == {
        "llm_requests_per_month": 100,
        "storage_gb": 1,
        "workspace_hours_per_month": 10,
        "running_workspaces": 1,
    }
    assert data["usage"]["period"]


def test_access_token_claims_and_lifetime(api, clock):
    body = register(api)
    header = jwt.get_unverified_header(body["access_token"])
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert header["alg"] == "ES256" and header["kid"]
    assert {"kid"} <= set(header)
    assert {"iss", "aud", "sub", "tid", "iat", "exp", "jti"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 900
    clock.advance(901)
    assert error_of(api.get("/api/auth/me", headers=bearer(body))) == (401, "token_expired")


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _hs256(claims: dict, kid: str, secret: bytes) -> str:
    """The key-confusion attack, built by hand (PyJWT refuses to make it)."""
    signing_input = f"{_b64({'alg': 'HS256', 'kid': kid, 'typ': 'JWT'})}.{_b64(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def test_forged_tokens_are_refused(api, services):
    body = register(api)
    token = body["access_token"]
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    head, payload, signature = token.split(".")
    jwk = api.get("/.well-known/jwks.json").get_json()["keys"][0]
    forged = {
        "alg none": f"{_b64({'alg': 'none', 'kid': header['kid']})}.{payload}.",
        "tampered": f"{head}.{_b64({**claims, 'sub': 'someone-else'})}.{signature}",
        "HS256 with the public key": _hs256(claims, header["kid"], json.dumps(jwk).encode()),
        "unknown kid": f"{_b64({**header, 'kid': 'nope'})}.{payload}.{signature}",
        "not a jwt": "abc.def",
    }
    from cryptography.hazmat.primitives.asymmetric import ec

    other_key = ec.generate_private_key(ec.SECP256R1())
    forged["signed by another key"] = jwt.encode(
        claims, other_key, algorithm="ES256", headers={"kid": header["kid"]}
    )
    tokens = services.tokens
    wrong_aud, _ = tokens.issue(
        typ="access", sub=claims["sub"], tid=claims["tid"], aud="workspace:abc", ttl=60
    )
    forged["wrong audience"] = wrong_aud
    wrong_iss = jwt.encode(
        {**claims, "iss": "https://evil.example"},
        tokens._keyring.current.private_key,
        algorithm="ES256",
        headers={"kid": header["kid"]},
    )
    forged["wrong issuer"] = wrong_iss
    for name, bad in forged.items():
        response = api.get("/api/auth/me", headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401, name
    assert error_of(api.get("/api/auth/me")) == (401, "unauthorized")


def test_jwks_serves_current_and_previous_key_across_rotation(api, services):
    from shared.tokens import new_private_key_pem

    old = register(api, email="rot@example.com")
    first = api.get("/.well-known/jwks.json").get_json()["keys"]
    assert len(first) == 1 and "d" not in first[0]
    services.secrets.add_version(services.settings.signing_key_secret, new_private_key_pem())
    services.tokens._keyring.refresh()
    keys = api.get("/.well-known/jwks.json").get_json()["keys"]
    assert len(keys) == 2 and keys[1]["kid"] == first[0]["kid"]
    # Tokens signed before the rotation still work; new ones carry the new kid.
    assert api.get("/api/auth/me", headers=bearer(old)).status_code == 200
    new = api.post(
        "/api/auth/login", json={"email": "rot@example.com", "password": PASSWORD}
    ).get_json()
    assert jwt.get_unverified_header(new["access_token"])["kid"] == keys[0]["kid"]


def test_logs_carry_no_password_or_token(api, capsys):
    from shared import logs

    logs.configure("test")
    body = register(api, email="quiet@example.com")
    api.post("/api/auth/login", json={"email": "quiet@example.com", "password": "wrong-pass-1"})
    api.get("/api/auth/me", headers={"Authorization": "Bearer " + body["access_token"] + "x"})
    out = capsys.readouterr()
    text = out.out + out.err
    assert PASSWORD not in text and body["access_token"] not in text
    assert body["refresh_token"] not in text


def test_login_fails_if_the_password_changes_between_check_and_session(api, services, monkeypatch):
    """The credential is re-read in the session's transaction (no check-then-use race)."""
    from shared import passwords

    body = register(api, email="race@example.com")
    tid, uid = body["user"]["tenant_id"], body["user"]["user_id"]
    real_verify = passwords.verify_password

    def verify_then_lose_password(stored_hash, password):
        ok = real_verify(stored_hash, password)
        services.db.transact(lambda tr: tr.clear(TENANTS[tid].key("credential", uid)))
        return ok

    monkeypatch.setattr(passwords, "verify_password", verify_then_lose_password)
    response = api.post("/api/auth/login", json={"email": "race@example.com", "password": PASSWORD})
    assert error_of(response) == (401, "invalid_credentials")


def test_every_http_function_answers_healthz(services):
    import glob
    import os

    import functions_framework

    from tests.conftest import ROOT

    for source in glob.glob(os.path.join(ROOT, "functions", "*", "main.py")):
        name = os.path.basename(os.path.dirname(source))
        if name == "provisioner":  # a Pub/Sub function: no HTTP surface
            continue
        client = functions_framework.create_app(name, source).test_client()
        response = client.get("/healthz")
        assert response.status_code == 200, name
        assert response.get_json() == {"status": "ok", "function": name}


def test_log_lines_of_a_request_carry_trace_and_request_ids(api, capsys):
    from shared import logs

    logs.configure("test", project="coditect-prod")  # as services() does from settings
    api.post(
        "/api/auth/login",
        json={"email": "x@example.com", "password": "y" * 12},
        headers={"X-Cloud-Trace-Context": "abc123/1;o=1"},
    )
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    assert lines, "a failed login writes a log line"
    assert all(line.get("request_id") for line in lines)
    assert all(line.get("severity") and line.get("message") for line in lines)
    # The full resource name: Cloud Logging links each line to its trace.
    traces = {line.get("logging.googleapis.com/trace") for line in lines}
    assert traces == {"projects/coditect-prod/traces/abc123"}
    assert all(line.get("function") == "auth" for line in lines)
    logs.configure("test")


def test_deeply_nested_json_is_400_not_500(api, services):
    before = all_keys(services)
    for path in ("/api/auth/register", "/api/auth/login", "/api/auth/refresh"):
        deep = api.post(path, data="[" * 60_000, content_type="application/json")
        assert error_of(deep) == (400, "malformed_json"), path
    assert all_keys(services) == before


def test_a_key_added_elsewhere_is_picked_up_on_its_first_token(services, clock):
    """Rotation is seamless across instances: one that loaded the keys before a rotation
    verifies tokens of an instance that signs with the new key, without waiting for a reload."""
    from shared.tokens import Keyring, TokenService, new_private_key_pem

    name = services.settings.signing_key_secret
    issuer = services.settings.issuer
    old_instance = TokenService(
        Keyring(services.secrets, name, generate_if_missing=True),
        clock,
        issuer,
    )
    old_instance.jwks()  # loaded before the rotation
    services.secrets.add_version(name, new_private_key_pem())
    new_instance = TokenService(Keyring(services.secrets, name), clock, issuer)
    token, _ = new_instance.issue(typ="access", sub="u1", tid="t1", aud="coditect-api", ttl=60)
    assert old_instance.verify(token, aud="coditect-api", typ="access")["sub"] == "u1"
    assert len(old_instance.jwks()["keys"]) == 2


def test_unknown_kids_do_not_reload_the_keys_every_time(services, clock):
    from shared.errors import Unauthorized
    from shared.tokens import Keyring, TokenService

    class CountingSecrets:
        def __init__(self, inner):
            self.inner, self.reads = inner, 0

        def versions(self, name, limit=2, *, fresh=False):
            self.reads += 1
            return self.inner.versions(name, limit, fresh=fresh)

        def add_version(self, name, value):
            self.inner.add_version(name, value)

    counting = CountingSecrets(services.secrets)
    tokens = TokenService(
        Keyring(counting, services.settings.signing_key_secret, generate_if_missing=True),
        clock,
        services.settings.issuer,
    )
    token, _ = tokens.issue(typ="access", sub="u", tid="t", aud="coditect-api", ttl=60)
    _head, payload, signature = token.split(".")
    reads = counting.reads
    for n in range(5):
        made_up = f"{_b64({'alg': 'ES256', 'kid': f'made-up-{n}'})}.{payload}.{signature}"
        with pytest.raises(Unauthorized):
            tokens.verify(made_up, aud="coditect-api", typ="access")
    assert counting.reads == reads + 1  # one look again, then at most every 30 s


def test_a_slow_key_fetch_does_not_stall_verification(services, clock):
    """A kid the instance does not know makes it read Secret Manager again; while that read
    hangs, tokens signed with the keys it knows still verify at once (the keyring's lock is
    not held across the fetch)."""
    import threading

    from shared.errors import Unauthorized
    from shared.tokens import Keyring, TokenService

    release = threading.Event()

    class SlowSecrets:
        def __init__(self, inner):
            self.inner = inner

        def versions(self, name, limit=2, *, fresh=False):
            if fresh:
                release.wait(10)  # Secret Manager taking its time
            return self.inner.versions(name, limit, fresh=fresh)

        def add_version(self, name, value):
            self.inner.add_version(name, value)

    tokens = TokenService(
        Keyring(
            SlowSecrets(services.secrets),
            services.settings.signing_key_secret,
            generate_if_missing=True,
        ),
        clock,
        services.settings.issuer,
    )
    good, _ = tokens.issue(typ="access", sub="u", tid="t", aud="coditect-api", ttl=60)
    _head, payload, signature = good.split(".")
    made_up = f"{_b64({'alg': 'ES256', 'kid': 'made-up'})}.{payload}.{signature}"

    def verify_made_up() -> None:
        with pytest.raises(Unauthorized):
            tokens.verify(made_up, aud="coditect-api", typ="access")

    stalled = threading.Thread(target=verify_made_up)
    stalled.start()
    try:
        deadline = threading.Event()
        deadline.wait(0.2)  # the unknown kid's reload is now waiting on the secret
        done = threading.Event()
        worker = threading.Thread(
            target=lambda: (tokens.verify(good, aud="coditect-api", typ="access"), done.set())
        )
        worker.start()
        assert done.wait(2), "verification waited for the key fetch"
    finally:
        release.set()
        stalled.join(10)
