"""Helpers for the self-service account tests: store snapshots and error shapes."""

from __future__ import annotations

from typing import Any


def dump_store(services: Any) -> list[tuple[bytes, bytes]]:
    return list(services.db.transact(lambda tr: tr.get_range(b"", b"\xff")))


def account_state(services: Any) -> list[tuple[bytes, bytes]]:
    """The store without rate-limit counters (a refused guess is counted, nothing else)."""
    from shared.store.keys import THROTTLE

    prefix = THROTTLE.key()
    return [(k, v) for k, v in dump_store(services) if not k.startswith(prefix)]


def error_of(response: Any) -> tuple[int, str]:
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return response.status_code, body["error"]["code"]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(api: Any, email: str, password: str) -> dict[str, Any]:
    response = api.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()
