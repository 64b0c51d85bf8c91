"""Schemathesis over /api/openapi.json against `python -m devstack`, signed in as a user.

Every check runs (no 5xx, status codes, content types, headers and bodies as documented, bad
input refused with a 4xx in the error shape, auth not ignored, undeclared methods refused);
tests/fuzz/schemathesis.toml lists the only allowances. Bounded for `make test` by examples per
operation; `make fuzz` (CODITECT_FUZZ_EXAMPLES, CODITECT_FUZZ_SECONDS) runs the long one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
import uuid
from xml.etree import ElementTree

import requests

from shared import openapi
from tests.conftest import free_port
from tests.dataplane.conftest import PASSWORD, Stack, start_stack, stop_stack

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemathesis.toml")
EXAMPLES = int(os.environ.get("CODITECT_FUZZ_EXAMPLES", "6"))
# With a time budget the fuzzing phase keeps generating until it is spent (the long run).
SECONDS = os.environ.get("CODITECT_FUZZ_SECONDS")
SEED = os.environ.get("CODITECT_FUZZ_SEED")


def signed_in(stack: Stack) -> str:
    email = f"fuzz-{uuid.uuid4().hex[:8]}@example.com"
    answer = requests.post(
        f"{stack.url}/api/auth/register",
        json={"email": email, "password": PASSWORD},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["access_token"])


def schemathesis_command(url: str, token: str, report_dir: str) -> list[str]:
    command = [
        os.path.join(os.path.dirname(sys.executable), "schemathesis"),
        "--config-file",
        CONFIG,
        "run",
        f"{url}/api/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(EXAMPLES),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-dir",
        report_dir,
    ]
    if SECONDS:
        command += ["--max-time", SECONDS]
    if SEED:
        command += ["--seed", SEED]
    return command


def left_out() -> set[str]:
    """The operations schemathesis.toml disables (destructive for the fuzz user)."""
    with open(CONFIG, "rb") as config:
        operations = tomllib.load(config).get("operations", [])
    names: set[str] = set()
    for operation in operations:
        if operation.get("enabled", True) is False:
            name = operation["include-name"]
            names |= {name} if isinstance(name, str) else set(name)
    return names


def fuzzed(report_dir: str) -> set[str]:
    names = set()
    for name in os.listdir(report_dir):
        if name.endswith(".xml"):
            tree = ElementTree.parse(os.path.join(report_dir, name))
            names |= {case.attrib["name"] for case in tree.iter("testcase")}
    return names


def test_schemathesis_finds_nothing(tmp_path):
    stack = start_stack(str(tmp_path / "data"), free_port(), str(tmp_path / "stack.log"))
    try:
        token = signed_in(stack)
        started = time.monotonic()
        run = subprocess.run(
            schemathesis_command(stack.url, token, str(tmp_path / "report")),
            cwd=tmp_path,  # its cache of crashes goes there, not into the repository
            capture_output=True,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
            timeout=float(SECONDS or 0) + 600,
        )
        took = time.monotonic() - started
    finally:
        stop_stack(stack)
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"{output}\n--- stack log tail ---\n{stack.log()[-4000:]}"
    # Every documented operation was fuzzed (the document itself is left out by schemathesis).
    documented = {
        f"{method.upper()} {path}"
        for path, item in openapi.document()["paths"].items()
        for method in item
    }
    skipped = left_out()
    assert skipped <= documented, skipped - documented  # a renamed route is not silently fuzzed
    assert fuzzed(str(tmp_path / "report")) == documented - {"GET /api/openapi.json"} - skipped
    assert "Traceback" not in stack.log(), stack.log()[-4000:]
    print(f"schemathesis: {EXAMPLES} examples per operation, {took:.1f} s")
