"""The OpenAPI 3.1 document of the public API, built from the routes themselves.

Every public ``Router`` in ``shared/api`` registers its routes with an ``Operation`` (method,
path, request model, response models per status, error statuses, auth). This module walks them
and turns the pydantic models into JSON Schema (OpenAPI 3.1 is JSON Schema 2020-12), so the
document cannot drift from what the handlers validate. It is built on the first request for it
and kept (``document()``): a function's cold start never pays for schema generation.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from shared.web import OPAQUE_ID, OWN_ID, Operation, Router

# Every module under shared/api that has a Router (tests check this list is complete).
API_MODULES = (
    "shared.api.auth",
    "shared.api.oauth",
    "shared.api.billing",
    "shared.api.stripe_webhook",
    "shared.api.workspaces",
    "shared.api.idle_cleanup",
    "shared.api.llm",
)
TITLE = "Coditect API"
VERSION = "1"
PATH_PARAMETER = {"type": "string", "pattern": f"^{OWN_ID}$"}
OPAQUE_PARAMETER = {"type": "string", "pattern": f"^{OPAQUE_ID}$"}
# Answered by every route of a kind, before its handler decides anything.
JSON_BODY_ERRORS = (400, 413, 415, 422)  # read_json: malformed, too large, not JSON, invalid
TOKEN_ERRORS = (401,)
# A bearer route also takes personal API tokens: one whose scope does not allow it gets 403.
BEARER_ERRORS = (*TOKEN_ERRORS, 403)
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": (
            "an access token from /api/auth/login, /register, /refresh or /oauth, or a personal"
            " API token (cdt_pat_..., POST /api/auth/tokens) where its scope allows the route"
            " (else 403 insufficient_scope)"
        ),
    },
    "workspace": {
        "type": "http",
        "scheme": "bearer",
        "description": "a workspace sidecar's activity credential (its namespace Secret)",
    },
}


def routers() -> list[Router]:
    return [importlib.import_module(name).router for name in API_MODULES]


def public_operations(found: Iterable[Router]) -> list[Operation]:
    """Every documented public route; ``ValueError`` names any route registered without one."""
    missing = [
        f"{router.function}: {method} {path}"
        for router in found
        for method, path, op in router.operations
        if op is None
    ]
    if missing:
        raise ValueError("routes without an operation: " + ", ".join(missing))
    return [op for router in found for _, _, op in router.operations if op and not op.internal]


def stack_operations() -> list[Operation]:
    """Answered by the origin itself rather than one function's handlers."""
    return [
        Operation("GET", "/healthz", "Liveness of every function and the stack", {200: "Health"}),
        Operation(
            "GET",
            "/readyz",
            "Readiness of the local stack: 200 once every component is started, else 503",
            {200: "Health"},
            errors=(503,),
        ),
    ]


@functools.cache
def document() -> dict[str, Any]:
    """The document, built once per process on first use."""
    return build(public_operations(routers()) + stack_operations())


def response_model(name: str) -> type[BaseModel]:
    """A route's response model, named in its ``responses``."""
    from shared.api import schemas

    model = getattr(schemas, name, None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise LookupError(f"shared.api.schemas has no response model {name!r}")
    return model


def build(operations: list[Operation]) -> dict[str, Any]:
    from shared.api.schemas import ErrorResponse

    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorResponse, "serialization")]
    for op in operations:
        if op.body is not None:
            wanted.append((op.body, "validation"))
        wanted.extend(
            (response_model(m), "serialization") for m in op.responses.values() if m is not None
        )
    unique = list(dict.fromkeys(wanted))
    refs, definitions = models_json_schema(unique, ref_template="#/components/schemas/{model}")

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(refs[(model, mode)])

    error = {"application/json": {"schema": ref(ErrorResponse, "serialization")}}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        item = paths.setdefault(op.path, {})
        if op.method.lower() in item:
            raise ValueError(f"{op.method} {op.path} is registered twice")
        item[op.method.lower()] = _operation(op, ref, error)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": 'JSON in and out; every refusal is {"error": {"code", "message"}}.',
        },
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def _operation(op: Operation, ref: Any, error: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": _operation_id(op),
        "summary": op.summary or f"{op.method} {op.path}",
        "tags": [op.path.split("/")[2] if op.path.startswith("/api/") else "platform"],
    }
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": list(op.choices[name])}
            if name in op.choices
            else OPAQUE_PARAMETER
            if name in op.opaque
            else PATH_PARAMETER,
        }
        for name in re.findall(r"\{(\w+)\}", op.path)
    ]
    parameters += [
        {
            "name": name,
            "in": "header",
            "required": True,
            "schema": {"type": "string", "minLength": 1},
        }
        for name in op.headers
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in op.query
    ]
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(op.body, "validation")}},
        }
    elif op.raw_body:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    if op.auth != "none":
        out["security"] = [{op.auth: []}]
    responses: dict[str, Any] = {}
    for status, model in sorted(op.responses.items()):
        answer: dict[str, Any] = {"description": HTTPStatus(status).phrase}
        if model is not None:
            schema = ref(response_model(model), "serialization")
            answer["content"] = {"application/json": {"schema": schema}}
        if 300 <= status < 400:
            answer["headers"] = {"Location": {"required": True, "schema": {"type": "string"}}}
        responses[str(status)] = answer
    for status in sorted(set(error_statuses(op))):
        responses[str(status)] = {"description": HTTPStatus(status).phrase, "content": error}
    out["responses"] = responses
    return out


def error_statuses(op: Operation) -> tuple[int, ...]:
    """Every error status the operation can answer: its own and those of its kind."""
    kind: tuple[int, ...] = JSON_BODY_ERRORS if op.body is not None else ()
    if op.raw_body:
        kind += (413,)
    if op.auth == "bearer":
        kind += BEARER_ERRORS
    elif op.auth != "none":
        kind += TOKEN_ERRORS
    return tuple(sorted({*op.errors, *kind}))


def _operation_id(op: Operation) -> str:
    words = re.sub(r"[{}]", "", op.path).replace(".", "_").replace("-", "_").split("/")
    return "_".join([op.method.lower(), *(w for w in words if w)])
