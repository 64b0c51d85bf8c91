"""Where a test puts the handler that the push target calls (one instance, however loaded)."""

from typing import Any

HANDLER: list[Any] = []
