"""Fixtures of the offline infrastructure checks: parsed Terraform and a checkov to run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
CHECKOV_VENV = ROOT / ".venv-checkov"
CHECKOV_REQUIREMENTS = TERRAFORM / "requirements-checkov.txt"


def parse_dir(directory: Path) -> dict[str, list[Any]]:
    """All blocks of the .tf files in one directory, merged by block type."""
    merged: dict[str, list[Any]] = {}
    options = SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
    for path in sorted(directory.glob("*.tf")):
        parsed = hcl2.loads(path.read_text(), serialization_options=options)
        for block_type, blocks in parsed.items():
            merged.setdefault(block_type, []).extend(blocks)
    return merged


@pytest.fixture(scope="session")
def modules() -> dict[str, dict[str, list[Any]]]:
    return {p.name: parse_dir(p) for p in sorted((TERRAFORM / "modules").iterdir()) if p.is_dir()}


@pytest.fixture(scope="session")
def root() -> dict[str, list[Any]]:
    """The one root module every environment is planned from."""
    return parse_dir(TERRAFORM / "root")


def environment_files() -> dict[str, Path]:
    """Environment name => its variable file (terraform/environments/<name>.tfvars)."""
    return {p.stem: p for p in sorted((TERRAFORM / "environments").glob("*.tfvars"))}


@pytest.fixture(scope="session")
def environments() -> dict[str, dict[str, Any]]:
    """Environment name => the values its variable file sets."""
    options = SerializationOptions(strip_string_quotes=True)
    parsed = {
        name: hcl2.loads(path.read_text(), serialization_options=options)
        for name, path in environment_files().items()
    }
    # python-hcl2 also hands back the file's comments; only the values matter here.
    return {
        name: {k: v for k, v in values.items() if not k.startswith("__")}
        for name, values in parsed.items()
    }


@pytest.fixture(scope="session")
def checkov() -> Path:
    """checkov in its own virtual environment (it pins its own HCL parser), made on first use."""
    binary = CHECKOV_VENV / "bin" / "checkov"
    stamp = CHECKOV_VENV / ".requirements"
    wanted = CHECKOV_REQUIREMENTS.read_text()
    if not binary.exists() or not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(CHECKOV_VENV)], check=True)
        subprocess.run(
            [
                str(CHECKOV_VENV / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "-r",
                str(CHECKOV_REQUIREMENTS),
            ],
            check=True,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )
        stamp.write_text(wanted)
    return binary
