"""A CloudEvent function for the Pub/Sub contract tests: hands each event to the test's handler."""

from typing import Any

import functions_framework

from tests.events import handler_slot


@functions_framework.cloud_event
def receive(event: Any) -> None:
    handler_slot.HANDLER[0](event)
