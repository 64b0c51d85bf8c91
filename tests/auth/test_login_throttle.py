"""The failed-login throttle through the login endpoint: per (email, client address) with a
slow-down, and per email from every address with a far higher ceiling (shared/accounts/throttle.py).

Each werkzeug client is given its own address (REMOTE_ADDR, or X-Forwarded-For as Google's load
balancer writes it); the clock is the test's ManualClock, so waits are exact.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from werkzeug.test import Client

from shared.errors import TooManyRequests, Unauthorized
from tests.conftest import register

PASSWORD = "correct horse battery"
OWNER = "198.51.100.7"


def login(api: Any, email: str, password: str, address: str = OWNER, **headers: str) -> Any:
    return api.post(
        "/api/auth/login",
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
        headers=headers,
    )


def guess_until_stopped(api: Any, clock: Any, email: str, address: str, wait: bool) -> list[int]:
    """Wrong guesses from ``address``, waiting out each slow-down when ``wait``; the statuses
    up to the first 429 that waiting does not end within a minute."""
    statuses = []
    for n in range(40):
        response = login(api, email, f"wrong guess {n:04d}", address)
        statuses.append(response.status_code)
        if response.status_code == 429:
            retry = int(response.headers["Retry-After"])
            if not wait or retry > 120:
                return statuses
            clock.advance(retry)
    return statuses


def test_another_clients_failures_do_not_lock_the_owner_out(api, clock):
    register(api, email="owner@example.com")
    stopped = guess_until_stopped(api, clock, "owner@example.com", "203.0.113.66", wait=True)
    assert stopped[-1] == 429  # the guesser is stopped ...
    # ... and the owner, from their own address, signs in at once
    ok = login(api, "owner@example.com", PASSWORD)
    assert ok.status_code == 200, ok.get_data(as_text=True)


def test_the_per_client_limit_stops_a_guesser_with_a_slow_down_first(api, clock):
    register(api, email="eve@example.com")
    attacker = "203.0.113.9"
    for n in range(3):  # the first three failures are free
        assert login(api, "eve@example.com", f"wrong {n:06d}", attacker).status_code == 401
    waits = []
    for n in range(3, 10):  # then each attempt waits 1, 2, 4, ... s after the latest failure
        early = login(api, "eve@example.com", PASSWORD, attacker)  # even the right password
        assert early.status_code == 429
        assert early.get_json()["error"]["code"] == "too_many_requests"
        waits.append(int(early.headers["Retry-After"]))
        clock.advance(waits[-1])
        assert login(api, "eve@example.com", f"wrong {n:06d}", attacker).status_code == 401
    assert waits == [1, 2, 4, 8, 16, 32, 64]
    # ten failures within the window: this address is stopped for the rest of it
    clock.advance(300)
    locked = login(api, "eve@example.com", PASSWORD, attacker)
    assert locked.status_code == 429
    assert 300 < int(locked.headers["Retry-After"]) <= 900
    clock.advance(int(locked.headers["Retry-After"]))
    assert login(api, "eve@example.com", PASSWORD, attacker).status_code == 200


def test_unknown_and_known_emails_are_answered_alike(api, clock):
    register(api, email="known@example.com")
    for email in ("known@example.com", "ghost@example.com"):
        answers = []
        for n in range(5):
            response = login(api, email, f"wrong {n:06d}", "203.0.113.20")
            answers.append((response.status_code, response.get_json(),
                            response.headers.get("Retry-After")))  # fmt: skip
        assert answers == [
            *[(401, _invalid(), None)] * 3,
            (429, _too_many(), "1"),
            (429, _too_many(), "1"),
        ]


def _invalid() -> dict[str, Any]:
    return {"error": {"code": "invalid_credentials", "message": "email or password is incorrect"}}


def _too_many() -> dict[str, Any]:
    return {
        "error": {"code": "too_many_requests", "message": "too many failed logins; try again later"}
    }


@pytest.fixture
def low_ceiling(services: Any) -> None:
    services.replace_settings(login_max_failures_per_email=30)


def test_the_per_email_ceiling_stops_a_distributed_guesser(api, clock, low_ceiling):
    register(api, email="target@example.com")
    for n in range(30):  # thirty addresses, one guess each: under every per-address limit
        assert login(api, "target@example.com", f"wrong {n:06d}", f"192.0.2.{n}").status_code == 401
    for address in ("192.0.2.200", OWNER):  # a fresh address, and the owner, wait for the window
        stopped = login(api, "target@example.com", PASSWORD, address)
        assert stopped.status_code == 429
        assert int(stopped.headers["Retry-After"]) == 900
    clock.advance(901)
    assert login(api, "target@example.com", PASSWORD).status_code == 200


def test_addresses_come_from_the_load_balancers_entries_of_x_forwarded_for(api, services, clock):
    services.replace_settings(forwarded_for_position=2)
    register(api, email="lb@example.com")
    # The guesser writes whatever it likes on the left; the load balancer appends the real
    # client and itself. Changing the forged part does not make a new client.
    for n in range(3):
        forged = f"10.9.8.{n}, 203.0.113.5, 35.191.0.1"
        assert login(api, "lb@example.com", f"wrong {n:06d}", "35.191.0.1",
                     **{"X-Forwarded-For": forged}).status_code == 401  # fmt: skip
    forged = "10.9.8.77, 203.0.113.5, 35.191.0.1"
    assert login(api, "lb@example.com", "wrong again", "35.191.0.1",
                 **{"X-Forwarded-For": forged}).status_code == 429  # fmt: skip
    # another real client behind the same load balancer is not slowed down
    owner = f"{OWNER}, 35.191.0.1"
    assert login(api, "lb@example.com", PASSWORD, "35.191.0.1",
                 **{"X-Forwarded-For": owner}).status_code == 200  # fmt: skip


def test_ipv6_clients_are_counted_per_64(api, clock):
    register(api, email="six@example.com")
    for n in range(3):
        address = f"2001:db8:1:2::{n + 1:x}"  # one subscriber's /64, a new address each time
        assert login(api, "six@example.com", f"wrong {n:06d}", address).status_code == 401
    assert login(api, "six@example.com", PASSWORD, "2001:db8:1:2::99").status_code == 429
    assert login(api, "six@example.com", PASSWORD, "2001:db8:1:3::1").status_code == 200


def test_throttle_is_counted_in_the_store_not_in_memory(api, services, settings, clock):
    from shared.accounts.requests import LoginRequest
    from shared.accounts.service import AccountService

    register(api, email="mallory@example.com")
    for n in range(3):
        login(api, "mallory@example.com", f"bad guess {n:04d}")
    fresh = AccountService(services.db, services.tokens, clock, settings)  # another instance
    with pytest.raises(TooManyRequests):
        fresh.login(LoginRequest(email="mallory@example.com", password=PASSWORD), OWNER)
    clock.advance(901)
    with pytest.raises(Unauthorized):
        fresh.login(LoginRequest(email="mallory@example.com", password="bad" * 4), OWNER)


def _concurrent_guesses(api: Any, email: str, addresses: list[str]) -> list[int]:
    statuses: list[int] = []
    start = threading.Barrier(len(addresses))

    def guess(n: int) -> None:
        client = Client(api.application)
        start.wait()
        statuses.append(login(client, email, f"guess-{n:06d}", addresses[n]).status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(len(addresses))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(statuses)


def test_concurrent_guesses_from_one_address_cannot_get_past_the_throttle(api):
    """Each attempt is counted in the transaction that checks the counts, before argon2 runs."""
    register(api, email="burst@example.com")
    statuses = _concurrent_guesses(api, "burst@example.com", [OWNER] * 25)
    assert statuses == [401] * 3 + [429] * 22


def test_concurrent_guesses_from_many_addresses_cannot_get_past_the_ceiling(api, low_ceiling):
    register(api, email="burst@example.com")
    addresses = [f"192.0.2.{n}" for n in range(45)]
    statuses = _concurrent_guesses(api, "burst@example.com", addresses)
    assert statuses == [401] * 30 + [429] * 15
