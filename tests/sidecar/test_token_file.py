"""The activity credential read from a mounted Secret file (ACTIVITY_TOKEN_FILE), as the
provisioner's pod spec gives it, instead of an environment variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sidecar.config import Config, ConfigError

from .conftest import ACTIVITY_TOKEN
from .test_process import ROOT, base_env


def file_env(path: Path) -> dict[str, str]:
    env = base_env(ACTIVITY_TOKEN_FILE=str(path))
    env.pop("ACTIVITY_TOKEN")
    return env


def test_the_token_is_read_from_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "activity-token"
    secret.write_text(ACTIVITY_TOKEN + "\n")  # a trailing newline (kubectl, editors) is dropped
    cfg = Config.from_env(file_env(secret))
    assert cfg.activity_token == ACTIVITY_TOKEN
    assert ACTIVITY_TOKEN not in repr(cfg)


@pytest.mark.parametrize(
    ("content", "match"),
    [(None, "ACTIVITY_TOKEN_FILE cannot be read"), ("  \n", "ACTIVITY_TOKEN_FILE names an empty")],
)
def test_a_missing_or_empty_file_is_a_config_error(
    tmp_path: Path, content: str | None, match: str
) -> None:
    secret = tmp_path / "activity-token"
    if content is not None:
        secret.write_text(content)
    with pytest.raises(ConfigError, match=match):
        Config.from_env(file_env(secret))


def test_both_the_variable_and_the_file_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "activity-token"
    secret.write_text("other")
    with pytest.raises(ConfigError, match="ACTIVITY_TOKEN or ACTIVITY_TOKEN_FILE, not both"):
        Config.from_env(base_env(ACTIVITY_TOKEN_FILE=str(secret)))


def test_the_process_refuses_to_start_without_its_token_file(tmp_path: Path) -> None:
    env = file_env(tmp_path / "absent")
    proc = subprocess.run(
        [sys.executable, "-m", "sidecar"], env=env, cwd=ROOT, capture_output=True, timeout=20
    )
    assert proc.returncode == 2
    assert "ACTIVITY_TOKEN_FILE" in proc.stderr.decode()
