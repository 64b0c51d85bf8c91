"""Auth fixtures: the mail port on its local adapter whatever the caller's environment says, and
no JSON log handler left behind by a test that configured logging."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from shared.logs import CloudLoggingFormatter


@pytest.fixture(autouse=True)
def local_mail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODITECT_MAIL", raising=False)


@pytest.fixture(autouse=True)
def no_leftover_log_handler() -> Iterator[None]:
    # logs.configure() binds a handler to the sys.stdout of the moment (a test's capture); once
    # that is closed, every later log line would fail to write ("--- Logging error ---").
    root = logging.getLogger()
    level = root.level
    yield
    for handler in list(root.handlers):
        if isinstance(handler.formatter, CloudLoggingFormatter):
            root.removeHandler(handler)
    root.setLevel(level)
