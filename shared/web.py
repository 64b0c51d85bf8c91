"""HTTP plumbing shared by every HTTP function: routing, JSON bodies, errors, bearer auth.

Handlers return ``Reply``; every failure becomes ``{"error": {"code", "message"}}`` with the right
status in one place, and a handler that raises has written nothing (writes happen in one
transaction at the end of the service call).
"""

from __future__ import annotations

import json
import logging
import re
import time
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
from shared.metrics import HTTP_REQUEST_SECONDS

log = logging.getLogger("coditect.web")
# The largest JSON body (CODITECT_MAX_BODY_BYTES): set from the settings by shared.wiring.build.
body_limit = 64 * 1024
M = TypeVar("M", bound=BaseModel)
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # Each a whole Set-Cookie value: a header that may appear more than once.
    cookies: list[str] = field(default_factory=list)


Handler = Callable[..., Reply]
# Who may call a route: anyone, a user's bearer access token, or a workspace sidecar's credential.
Auth = Literal["none", "bearer", "workspace"]


@dataclass(frozen=True)
class Operation:
    """What a route promises, for the OpenAPI document (shared/openapi.py builds it on request).

    ``responses`` maps each success status to the name of its body model in shared.api.schemas
    (``None``: no body, e.g. 204 or a redirect): named, not imported, so serving a request never
    loads the document's models (cold start). ``errors`` are the statuses the handler itself can
    answer; those every route of its kind can answer (a JSON body's 400/413/415/422, a token's
    401) are added by the document.
    ``body`` is the model ``read_json`` validates with; ``raw_body`` a body read as bytes (a
    signed webhook) that is documented as any JSON object.
    """

    method: str
    path: str
    summary: str
    responses: Mapping[int, str | None]
    body: type[BaseModel] | None = None
    raw_body: bool = False
    errors: tuple[int, ...] = ()
    auth: Auth = "none"
    headers: tuple[str, ...] = ()  # request headers the route requires (e.g. Stripe-Signature)
    query: tuple[str, ...] = ()  # query parameters it reads (all optional strings)
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # path values allowed
    internal: bool = False  # not on the public origin (e.g. Cloud Scheduler's call)
    # Path values that are another system's ids (an OpenID subject: up to 255 of any character
    # but "/"), matched as one whole segment rather than as one of our own ids.
    opaque: tuple[str, ...] = ()


OWN_ID = "[A-Za-z0-9_-]{1,64}"
OPAQUE_ID = "[^/]{1,255}"


def _compile(pattern: str, opaque: tuple[str, ...] = ()) -> re.Pattern[str]:
    def group(found: re.Match[str]) -> str:
        name = found.group(1)
        return f"(?P<{name}>{OPAQUE_ID if name in opaque else OWN_ID})"

    return re.compile("^" + re.sub(r"\{(\w+)\}", group, pattern) + "$")


class Router:
    """Maps method + path to handlers; one instance per HTTP function."""

    def __init__(self, function: str, project: str = "") -> None:
        self.function = function
        self.project = project
        # (literal start of the pattern, method, regex, handler): the start is compared first,
        # so a request runs only the regexes of routes that can match it.
        self._routes: list[tuple[str, str, re.Pattern[str], Handler]] = []
        # Every route's promise; ``None`` for a route registered without one (a test refuses it).
        self.operations: list[tuple[str, str, Operation | None]] = []
        self.included_in: str | None = None  # the function that serves these routes, if another

    def route(
        self,
        method: str,
        pattern: str,
        *,
        summary: str = "",
        responses: Mapping[int, str | None] | None = None,
        body: type[BaseModel] | None = None,
        raw_body: bool = False,
        errors: tuple[int, ...] = (),
        auth: Auth = "none",
        headers: tuple[str, ...] = (),
        query: tuple[str, ...] = (),
        choices: Mapping[str, tuple[str, ...]] | None = None,
        internal: bool = False,
        opaque: tuple[str, ...] = (),
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
                tuple(opaque),
            )
        )

        def register(handler: Handler) -> Handler:
            literal = pattern.split("{", 1)[0]
            self._routes.append((literal, method, _compile(pattern, tuple(opaque)), handler))
            self.operations.append((method, pattern, operation))
            return handler

        return register

    def include(self, other: Router) -> None:
        """Serve ``other``'s routes too (a function's routes kept in more than one module)."""
        self._routes.extend(other._routes)
        self.operations.extend(other.operations)
        other.included_in = self.function

    def _match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        if path == "/healthz" and method in ("GET", "HEAD"):
            return self._healthz, {}
        matches = [
            (route_method, handler, found.groupdict())
            for literal, route_method, regex, handler in self._routes
            if path.startswith(literal) and (found := regex.match(path))
        ]
        # The most literal patterns win: /connections/{provider}/link is not a {subject}.
        fewest = min((len(params) for _, _, params in matches), default=0)
        matches = [match for match in matches if len(match[2]) == fewest]
        for route_method, handler, params in matches:
            if route_method == method or (route_method == "GET" and method == "HEAD"):
                return handler, params
        allowed = [route_method for route_method, _, _ in matches]
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

        started = time.perf_counter()
        token = request_context.set(trace_fields(request.headers, self.project, self.function))
        route = "unmatched"  # the handler's name once matched: a closed set, unlike paths
        try:
            handler, params = self._match(request.method, request.path)
            route = handler.__name__.lstrip("_")
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
        HTTP_REQUEST_SECONDS.observe(
            time.perf_counter() - started,
            function=self.function,
            route=route,
            method=request.method if request.method in _METHODS else "other",
            status=str(reply.status),
        )
        headers = [
            *{"Cache-Control": "no-store", **reply.headers}.items(),
            *(("Set-Cookie", cookie) for cookie in reply.cookies),
        ]
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
        max_bytes = body_limit
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


def client_address(request: Any, forwarded_for_position: int) -> str:
    """The address a request came from, as far as our own proxies vouch for it.

    Behind Google's load balancer the last two X-Forwarded-For entries are the ones it appended
    (``<client>, <load balancer>``): position 2 from the right. Anything further left was sent
    by the client and proves nothing. Position 0, or a header shorter than that (the request
    did not come through the load balancer): the connection's peer.
    """
    if forwarded_for_position > 0:
        raw = request.headers.get("X-Forwarded-For", "")
        entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
        if len(entries) >= forwarded_for_position:
            return str(entries[-forwarded_for_position])
    return str(request.remote_addr or "")
