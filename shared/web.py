"""HTTP plumbing shared by every HTTP function: routing, JSON bodies, errors, bearer auth.

Handlers return ``Reply``; every failure becomes ``{"error": {"code", "message"}}`` with the right
status in one place, and a handler that raises has written nothing (writes happen in one
transaction at the end of the service call).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from shared.errors import (
    ApiError,
    BadRequest,
    PayloadTooLarge,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
)
from shared.logs import request_context, trace_fields

log = logging.getLogger("coditect.web")
M = TypeVar("M", bound=BaseModel)


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[..., Reply]
# Who may call a route: anyone, a user's bearer access token, or a workspace sidecar's credential.
Auth = Literal["none", "bearer", "workspace"]


@dataclass(frozen=True)
class Operation:
    """What a route promises, for the OpenAPI document (shared/openapi.py builds it on request).

    ``responses`` maps each success status to its body model (``None``: no body, e.g. 204 or a
    redirect). ``errors`` are the statuses the handler itself can answer; those every route of its
    kind can answer (a JSON body's 400/413/415/422, a token's 401) are added by the document.
    ``body`` is the model ``read_json`` validates with; ``raw_body`` a body read as bytes (a
    signed webhook) that is documented as any JSON object.
    """

    method: str
    path: str
    summary: str
    responses: Mapping[int, type[BaseModel] | None]
    body: type[BaseModel] | None = None
    raw_body: bool = False
    errors: tuple[int, ...] = ()
    auth: Auth = "none"
    headers: tuple[str, ...] = ()  # request headers the route requires (e.g. Stripe-Signature)
    query: tuple[str, ...] = ()  # query parameters it reads (all optional strings)
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # path values allowed
    internal: bool = False  # not on the public origin (e.g. Cloud Scheduler's call)


def _compile(pattern: str) -> re.Pattern[str]:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[A-Za-z0-9_-]{1,64})", pattern)
    return re.compile(f"^{regex}$")


class Router:
    """Maps method + path to handlers; one instance per HTTP function."""

    def __init__(self, function: str, project: str = "") -> None:
        self.function = function
        self.project = project
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        # Every route's promise; ``None`` for a route registered without one (a test refuses it).
        self.operations: list[tuple[str, str, Operation | None]] = []

    def route(
        self,
        method: str,
        pattern: str,
        *,
        summary: str = "",
        responses: Mapping[int, type[BaseModel] | None] | None = None,
        body: type[BaseModel] | None = None,
        raw_body: bool = False,
        errors: tuple[int, ...] = (),
        auth: Auth = "none",
        headers: tuple[str, ...] = (),
        query: tuple[str, ...] = (),
        choices: Mapping[str, tuple[str, ...]] | None = None,
        internal: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Register a handler; the keywords document it (no schema is built here: cold start)."""
        method = method.upper()
        operation = (
            None
            if responses is None
            else Operation(
                method,
                pattern,
                summary,
                dict(responses),
                body,
                raw_body,
                tuple(errors),
                auth,
                tuple(headers),
                tuple(query),
                dict(choices or {}),
                internal,
            )
        )

        def register(handler: Handler) -> Handler:
            self._routes.append((method, _compile(pattern), handler))
            self.operations.append((method, pattern, operation))
            return handler

        return register

    def _match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        if path == "/healthz" and method in ("GET", "HEAD"):
            return self._healthz, {}
        allowed = []
        for route_method, regex, handler in self._routes:
            found = regex.match(path)
            if found:
                if route_method == method or (route_method == "GET" and method == "HEAD"):
                    return handler, found.groupdict()
                allowed.append(route_method)
        if allowed:
            raise ApiError(
                "method not allowed",
                code="method_not_allowed",
                status=405,
                headers={"Allow": ", ".join(sorted(set(allowed)))},
            )
        raise ApiError(f"no route for {method} {path}", code="not_found", status=404)

    def _healthz(self, request: Any) -> Reply:
        """Liveness of this function; every HTTP function answers it without auth."""
        return Reply(200, {"status": "ok", "function": self.function})

    def __call__(self, request: Any) -> Any:
        from flask import Response

        token = request_context.set(trace_fields(request.headers, self.project, self.function))
        try:
            handler, params = self._match(request.method, request.path)
            reply = handler(request, **params)
        except ApiError as error:
            reply = Reply(error.status, error.body(), error.headers)
            if error.status >= 500:
                log.error("request failed", extra={"fields": {"code": error.code}})
        except Exception:
            log.exception("unhandled error", extra={"fields": {"path": request.path}})
            reply = Reply(500, {"error": {"code": "internal", "message": "internal error"}})
        finally:
            request_context.reset(token)
        headers = {"Cache-Control": "no-store", **reply.headers}
        if reply.body is None:
            return Response(status=reply.status, headers=headers)
        return Response(
            json.dumps(reply.body),
            status=reply.status,
            headers=headers,
            mimetype="application/json",
        )


def framework_error(error: Exception) -> Any:
    """A request the framework answered before any Router saw it (e.g. a path with a newline,
    which its ``/<path:path>`` rule does not match): the contract's JSON error, not an HTML page.
    Each HTTP function registers it with ``functions_framework.errorhandler(HTTPException)``."""
    from flask import Response
    from werkzeug.exceptions import HTTPException

    status = error.code if isinstance(error, HTTPException) and error.code else 500
    code = {404: "not_found", 405: "method_not_allowed"}.get(status) or re.sub(
        r"\W+", "_", getattr(error, "name", "error").lower()
    ).strip("_")
    message = getattr(error, "description", None) or "request refused"
    body = json.dumps({"error": {"code": code, "message": message}})
    return Response(
        body, status=status, mimetype="application/json", headers={"Cache-Control": "no-store"}
    )


def read_json(request: Any, model: type[M], max_bytes: int | None = None) -> M:
    """The request body as ``model``: 413, 415, 400 and 422 in that order of checking.

    The size limit is ``CODITECT_MAX_BODY_BYTES`` unless the caller gives one."""
    if max_bytes is None:
        from shared.wiring import services

        max_bytes = services().settings.max_body_bytes
    length = request.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLarge(f"request body is over {max_bytes} bytes")
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    raw = request.stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"request body is over {max_bytes} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("request body is not valid JSON", code="malformed_json") from None
    except RecursionError:  # e.g. 64 kB of "[": deeper than any body we accept
        raise BadRequest("request body is nested too deeply", code="malformed_json") from None
    if not isinstance(data, dict):
        raise Unprocessable("request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise Unprocessable(describe_validation_error(error)) from None


def describe_validation_error(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def bearer_token(request: Any) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "a bearer access token is required",
            code="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="coditect"'},
        )
    return token.strip()
