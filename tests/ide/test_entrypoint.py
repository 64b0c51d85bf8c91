"""ide/entrypoint.sh, the image's entry point, run here against the built application: it seeds a
writable THEIA_CONFIG_DIR from the image's chat agent and from a mounted settings Secret (laid out
as the kubelet lays one out: ``..data`` symlinks and a timestamped dot-directory), then serves the
workspace folder on the given port.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from devstack import ide
from tests.conftest import free_port

pytestmark = pytest.mark.timeout(900)  # a cold build (npm ci) comes first


def secret_volume(root: Path, files: dict[str, str]) -> Path:
    """A directory shaped like a Kubernetes Secret volume holding ``files``."""
    root.mkdir()
    data = root / "..2026_11_29_00_00_00.000000001"
    for name, content in files.items():
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_text(content)
        (data / name).chmod(0o444)  # as the kubelet writes them (defaultMode)
    (root / "..data").symlink_to(data.name)
    for top in {name.split("/")[0] for name in files}:
        (root / top).symlink_to(f"..data/{top}")
    return root


def test_entrypoint_seeds_the_config_dir_and_serves_the_workspace(
    ide_built: str, tmp_path: Path
) -> None:
    settings = {"ai-features.chat.defaultChatAgent": "Coditect", "editor.fontSize": 15}
    mounted = secret_volume(tmp_path / "secret", {"settings.json": json.dumps(settings)})
    config = tmp_path / "home" / ".theia"
    workspace = tmp_path / "project"
    workspace.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "CODITECT_IDE_DIR": str(ide.IDE_DIR),
        "THEIA_CONFIG_DIR": str(config),
        "CODITECT_THEIA_SETTINGS": str(mounted),
        "CODITECT_WORKSPACE": str(workspace),
        "CODITECT_IDE_HOST": "127.0.0.1",
        "CODITECT_IDE_PORT": str(port),
    }
    log = tmp_path / "entrypoint.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["sh", str(ide.IDE_DIR / "entrypoint.sh")],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        # exec: the shell became the backend, so the pod's signals reach node directly.
        assert Path(f"/proc/{process.pid}/comm").read_text().strip() == "node"
        assert json.loads((config / "settings.json").read_text()) == settings
        assert not (config / "settings.json").is_symlink()
        # The copy is the owner's to change: settings edited in the UI are saved there.
        assert (config / "settings.json").stat().st_mode & 0o200
        assert not (config / "..data").exists()
        agent = config / "prompt-templates" / "agents" / "Coditect" / "agent.md"
        assert agent.read_text() == (ide.PROMPT_TEMPLATES / "agents/Coditect/agent.md").read_text()
        assert f"Configuration directory URI: 'file://{config}'" in log.read_text()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
