"""Fixtures every test folder can use: a data dir, services on local adapters, an HTTP client.

``api`` is a werkzeug client for the whole local origin: the real functions, loaded by
functions-framework exactly as in the local stack, dispatched by path.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# The light placeholder behind local sidecars: tests that need the real IDE (Theia) say so.
os.environ.setdefault("CODITECT_IDE", "placeholder")

from shared import wiring  # noqa: E402
from shared.clock import ManualClock  # noqa: E402
from shared.events import LocalEvents  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.metrics.recorder import Recorded  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    return Settings(data_dir=str(tmp_path / "data"), public_url="http://testserver")


@pytest.fixture
def events() -> Iterator[LocalEvents]:
    bus = LocalEvents()
    yield bus
    bus.close()


@pytest.fixture
def services(
    settings: Settings, clock: ManualClock, events: LocalEvents
) -> Iterator[wiring.Services]:
    built = wiring.build(settings, clock=clock, events=events)
    wiring.install(built)
    yield built
    wiring.install(None)
    events.close()  # deliveries in flight finish before the store closes
    built.db.close()


@pytest.fixture
def api(services: wiring.Services) -> Any:
    from werkzeug.test import Client

    from devstack.stack import LocalStack

    return Client(LocalStack(services.settings).build_app())


def register(
    api: Any, email: str = "ada@example.com", password: str = "correct horse battery", **extra: Any
) -> dict[str, Any]:
    """Sign a user up through the API; returns the 201 body (user and tokens)."""
    response = api.post("/api/auth/register", json={"email": email, "password": password, **extra})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def bearer(body: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {body['access_token']}"}


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    """Every metric recorded during the test (instead of the production log lines)."""
    from shared import metrics

    sink = Recorded()
    metrics.use_sinks(sink)
    yield sink
    metrics.use_sinks(metrics.LogSink())
