"""The failed-login throttle: per (email, client address), and per email with a far higher ceiling.

Counting per email alone let anyone lock an owner out with a few wrong guesses. Now:

- from one client address, the first ``login_slow_after_failures`` failures on an email are free,
  then each further attempt waits twice as long as the one before (1 s, 2 s, 4 s, ...) after the
  latest failure, and ``login_max_failures`` failures within the window stop that address for
  the rest of it. The owner, from their own address, meets none of this unless they mistype;
- every address together gets ``login_max_failures_per_email`` failures on an email within the
  window (a guesser spread over many addresses), far above what one address may do, so a
  lock-out of the owner costs an attacker that many addresses' worth of attempts.

The address is hashed (no address in clear in the store; IPv6 counted per /64, which one
subscriber usually holds whole). The throttle is applied before the email is looked up, the
same way for known and unknown emails, so answers never tell whether an account exists.
Each attempt counts as a failure until it succeeds (which clears its address's count), written
in the transaction that checked the counts: concurrent guesses conflict there, so at most the
limit get through.
"""

from __future__ import annotations

import ipaddress
import json
import math

from shared.digests import sha256_hex
from shared.errors import TooManyRequests
from shared.settings import Settings
from shared.store import Transaction
from shared.store.keys import THROTTLE

MAX_SLOW_DOWN_SECONDS = 300


def client_ref(address: str) -> str:
    """What the throttle counts by: the hash of the address (its /64 for IPv6)."""
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return sha256_hex("unknown")  # no usable address: all such requests share one count
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return sha256_hex(str(parsed.ipv4_mapped))
        return sha256_hex(str(ipaddress.ip_network(f"{parsed}/64", strict=False)))
    return sha256_hex(str(parsed))


class LoginThrottle:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def keys(self, email_ref: str, client: str) -> tuple[bytes, bytes]:
        """(per email from every address, per email from this address)."""
        return (
            THROTTLE.key("login", email_ref),
            THROTTLE.key("login", email_ref, client_ref(client)),
        )

    def _recent(self, tr: Transaction, key: bytes, now: float) -> list[float]:
        window = self.settings.login_failure_window_seconds
        stamps: list[float] = json.loads(tr.get(key) or b"[]")
        return [t for t in stamps if t > now - window]

    def admit(self, tr: Transaction, email_ref: str, client: str, now: float) -> None:
        """Count this attempt as a failure, or raise 429 with Retry-After (nothing written)."""
        settings = self.settings
        window = settings.login_failure_window_seconds
        every_key, client_key = self.keys(email_ref, client)
        everyone = self._recent(tr, every_key, now)
        mine = self._recent(tr, client_key, now)
        wait = 0.0
        if len(everyone) >= settings.login_max_failures_per_email:
            wait = everyone[-settings.login_max_failures_per_email] + window - now
        if len(mine) >= settings.login_max_failures:
            wait = max(wait, mine[-settings.login_max_failures] + window - now)
        elif len(mine) >= settings.login_slow_after_failures:
            pause = 2 ** (len(mine) - settings.login_slow_after_failures)
            wait = max(wait, mine[-1] + min(pause, MAX_SLOW_DOWN_SECONDS) - now)
        if wait > 0:
            raise TooManyRequests(
                "too many failed logins; try again later",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        tr.set(
            every_key,
            json.dumps([*everyone, now][-settings.login_max_failures_per_email :]).encode(),
        )
        tr.set(client_key, json.dumps([*mine, now][-settings.login_max_failures :]).encode())

    def succeeded(self, tr: Transaction, email_ref: str, client: str) -> None:
        """A right password clears its address's count (the per-email count keeps its window)."""
        tr.clear(self.keys(email_ref, client)[1])
