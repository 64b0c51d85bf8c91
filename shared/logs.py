"""Structured JSON logs that Cloud Logging reads, with secrets kept out.

Values go in as fields (``log.info("login failed", extra={"fields": {...}})`` or ``event()``),
never formatted into the message. Fields whose names look secret are replaced, and anything that
looks like a JWT or a bearer credential is masked wherever it appears.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import uuid
from typing import Any

request_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "request_context", default=None
)

_SECRET_NAMES = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|api[_-]?key|private|credential|signature",
    re.IGNORECASE,
)
_SECRET_VALUES = re.compile(
    r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*"  # JWTs
    r"|(?i:bearer)\s+\S+"
    r"|(sk|rk|whsec)_(test|live)?_?\w{6,}"  # Stripe keys and webhook secrets
)
_SEVERITY = {"WARNING": "WARNING", "ERROR": "ERROR", "CRITICAL": "CRITICAL", "DEBUG": "DEBUG"}


def scrub(value: Any, name: str = "") -> Any:
    if name and _SECRET_NAMES.search(name):
        return "[redacted]"
    if isinstance(value, str):
        return _SECRET_VALUES.sub("[redacted]", value)
    if isinstance(value, dict):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


class CloudLoggingFormatter(logging.Formatter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, "INFO"),
            "message": scrub(record.getMessage()),
            "component": self.component,
            "logger": record.name,
        }
        context = request_context.get() or {}
        entry.update(context)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(scrub(fields))
        if record.exc_info:
            entry["stack_trace"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


_project = ""  # the Google Cloud project, for trace links (set by configure)


def configure(component: str, level: str = "INFO", project: str = "") -> None:
    """Route every log line through the JSON formatter; safe to call more than once.

    ``project`` makes trace ids links (``projects/<project>/traces/<id>``) in every function."""
    global _project
    _project = project
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler.formatter, CloudLoggingFormatter):
            handler.formatter.component = component
            if isinstance(handler, logging.StreamHandler):
                handler.stream = sys.stdout  # stdout may have been replaced (and closed) since
            return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudLoggingFormatter(component))
    root.addHandler(handler)
    root.setLevel(level)


def trace_fields(headers: Any, project: str, function: str) -> dict[str, str]:
    """Log fields tying a line to its request: the Cloud Trace id when the platform sent one."""
    fields = {"function": function}
    project = project or _project
    header = headers.get("X-Cloud-Trace-Context") or ""
    trace_id = header.split("/", 1)[0]
    if not trace_id:
        traceparent = headers.get("traceparent") or ""
        parts = traceparent.split("-")
        trace_id = parts[1] if len(parts) >= 2 else ""
    if trace_id:
        fields["logging.googleapis.com/trace"] = (
            f"projects/{project}/traces/{trace_id}" if project else trace_id
        )
    # Every line of a request carries an id, the caller's or a fresh one.
    fields["request_id"] = (headers.get("X-Request-Id") or uuid.uuid4().hex[:16])[:64]
    return fields
