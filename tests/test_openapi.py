"""The OpenAPI document: built from every Router's routes, valid 3.1, served on the one origin."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import subprocess
import sys
from typing import Any

import pytest
from openapi_spec_validator import validate

import shared.api
from devstack.stack import HTTP_FUNCTIONS
from shared import openapi
from shared.web import Router
from tests.conftest import ROOT


def every_router() -> dict[str, Router]:
    """Each module under shared/api with a Router, found by walking the package."""
    found = {}
    for info in pkgutil.iter_modules(shared.api.__path__, "shared.api."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, Router):
                found[info.name] = value
    return found


def test_every_router_is_walked_by_the_document() -> None:
    # A router included in another function's (shared.api.account in auth) is walked through it.
    serving = {name for name, router in every_router().items() if router.included_in is None}
    assert serving == set(openapi.API_MODULES)
    assert every_router()["shared.api.account"].included_in == "auth"


def test_every_route_has_an_operation_and_every_operation_a_route() -> None:
    document = openapi.document()
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    routes = set()
    for router in every_router().values():
        for method, path, operation in router.operations:
            assert operation is not None, f"{router.function}: {method} {path} is undocumented"
            if not operation.internal:
                routes.add((method, path))
    stack = {(op.method, op.path) for op in openapi.stack_operations()}
    assert documented == routes | stack


def test_a_route_registered_without_metadata_is_refused() -> None:
    router = Router("probe")

    @router.route("GET", "/api/probe")
    def probe(request: Any) -> Any:
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="GET /api/probe"):
        openapi.public_operations([router])


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi.document()
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_error_status_has_the_error_shape() -> None:
    document = openapi.document()
    error_ref = "#/components/schemas/ErrorResponse"
    shape = document["components"]["schemas"]["ErrorResponse"]
    assert shape["required"] == ["error"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            statuses = {int(s) for s in operation["responses"]}
            assert any(s < 400 for s in statuses), (method, path)
            for status in statuses:
                answer = operation["responses"][str(status)]
                if status >= 400:
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": error_ref}, (method, path, status)
            if "requestBody" in operation and "/webhooks/" not in path:
                assert {400, 413, 415, 422} <= statuses, (method, path)
            if "security" in operation:
                assert 401 in statuses, (method, path)


def test_request_bodies_are_the_models_the_handlers_validate_with() -> None:
    from shared.accounts.requests import RegisterRequest
    from shared.workspaces.service import CreateWorkspace

    document = openapi.document()
    schemas = document["components"]["schemas"]

    def body_schema(path: str) -> dict[str, Any]:
        ref = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        return dict(schemas[ref["schema"]["$ref"].rsplit("/", 1)[-1]])

    register = body_schema("/api/auth/register")
    assert register == RegisterRequest.model_json_schema()
    assert register["additionalProperties"] is False
    assert body_schema("/api/workspaces")["properties"]["name"]["maxLength"] == 63
    assert CreateWorkspace.model_json_schema()["properties"]["name"]["maxLength"] == 63


def test_served_at_api_openapi_json_on_the_one_origin(api: Any) -> None:
    response = api.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == json.loads(json.dumps(openapi.document()))
    auth = next(fn for fn in HTTP_FUNCTIONS if fn.name == "auth")
    assert "/api/openapi.json" in auth.prefixes


def test_plan_catalog_is_public(api: Any) -> None:
    body = api.get("/api/plans").get_json()
    assert [plan["name"] for plan in body["plans"]] == ["free", "starter", "pro"]
    assert body["plans"][2]["limits"]["running_workspaces"] == 10


def test_path_parameters_match_the_router_pattern() -> None:
    pattern = re.compile(openapi.PATH_PARAMETER["pattern"])
    assert pattern.match("a" * 64) and not pattern.match("a" * 65) and not pattern.match("a/b")


PROBE = """
import sys
from shared.api import auth, billing, workspaces, oauth, stripe_webhook, llm
print("schemas imported:", "shared.api.schemas" in sys.modules)
from shared.api import schemas
from shared.accounts import requests
mine = [
    m
    for module in (schemas, requests)
    for m in vars(module).values()
    if isinstance(m, type) and issubclass(m, schemas.BaseModel) and m.__module__ == module.__name__
]
lazy = [m.__name__ for m in mine if m.__pydantic_complete__]
print("built:", lazy)
print("openapi imported:", "shared.openapi" in sys.modules)
"""


def test_importing_the_handlers_builds_no_schema() -> None:
    # Cold start: response models are compiled only when the document is asked for, request
    # bodies on the first request that sends one.
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "built: []" in out and "openapi imported: False" in out, out
    # Routes name their response models: serving requests never even imports them.
    assert "schemas imported: False" in out, out
