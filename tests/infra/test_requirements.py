"""Every runtime requirement ships to every function, so each must be used by the code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Distribution -> the top-level import that proves it is used.
IMPORTS = {
    "functions-framework": "functions_framework",
    "flask": "flask",
    "werkzeug": "werkzeug",
    "cloudevents": "cloudevents",
    "pydantic": "pydantic",
    "email-validator": "email_validator",
    "argon2-cffi": "argon2",
    "pyjwt": "jwt",
    "cryptography": "cryptography",
    "foundationdb": "fdb",
    "google-cloud-pubsub": "google.cloud.pubsub_v1",
    "google-cloud-secret-manager": "google.cloud.secretmanager",
    "google-auth": "google.auth",
    "kubernetes": "kubernetes",
    "stripe": "stripe",
    "requests": "requests",
}


def requirements() -> list[str]:
    names = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(re.split(r"[\[=<>]", line, maxsplit=1)[0].lower())
    return names


def imported_modules() -> set[str]:
    found: set[str] = set()
    for folder in ("shared", "functions"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found |= {alias.name for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module)
                    found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_every_runtime_requirement_is_imported_by_the_functions_code() -> None:
    used = imported_modules()
    for name in requirements():
        assert name in IMPORTS, f"{name}: say which import proves it is needed"
        module = IMPORTS[name]
        assert any(m == module or m.startswith(module + ".") for m in used), (
            f"{name} ships to every function but nothing in shared/ or functions/ imports "
            f"{module}: drop it from requirements.txt"
        )
