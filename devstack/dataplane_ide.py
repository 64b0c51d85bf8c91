"""The IDE behind each local sidecar: the real one (Eclipse Theia, built from ``ide/``) or the
light placeholder page (``CODITECT_IDE=placeholder``, for fast runs).

Each workspace has a folder of its own under the data plane's directory, the local twin of its
pod's volumes::

    <data>/dataplane/<workspace id>/files   the workspace's files (its PVC): kept across
                                            stop/start, removed on delete
    <data>/dataplane/<workspace id>/home    HOME of the IDE and its terminals
    <data>/dataplane/<workspace id>/theia   THEIA_CONFIG_DIR: Coditect's chat agent and the
                                            settings.json the platform renders (``theia_settings``)

Theia runs as the workspace image runs it (``node lib/backend/main.js --hostname H --port P
<folder>``) in a process group of its own, so its file watcher and the terminals' shells end
with it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from devstack import ide

IdeKind = Literal["theia", "placeholder"]

# The preference keys Theia's AI packages read (see docs/ide.md for the full shape with models).
CHAT_AGENT = "ai-features.chat.defaultChatAgent"
OPENAI_MODELS = "ai-features.openAiCustom.customOpenAiModels"
MODEL_ALIASES = "ai-features.languageModelAliases"


def theia_settings(ws: Mapping[str, Any]) -> dict[str, Any]:
    """The ``settings.json`` the platform renders for a workspace's Theia (the settings Secret in
    the cluster; written into the workspace's THEIA_CONFIG_DIR at each local start).

    AI on (the chat with Coditect's agent), and no model yet: the LLM gateway fills
    ``OPENAI_MODELS`` (url ``<origin>/api/llm/v1``, the workspace's key) and ``MODEL_ALIASES``
    here, through this one function.
    """
    del ws  # the gateway's models and key will be the workspace's own
    return {
        # Declared by @theia/ai-ide only (not in this application): a no-op today, explicit so
        # adding that package keeps the AI features on.
        "ai-features.AiEnable.enableAI": True,
        CHAT_AGENT: "Coditect",
        OPENAI_MODELS: [],
    }


@dataclass(frozen=True)
class WorkspaceFolders:
    root: str

    @property
    def files(self) -> str:
        return os.path.join(self.root, "files")

    @property
    def home(self) -> str:
        return os.path.join(self.root, "home")

    @property
    def config(self) -> str:
        return os.path.join(self.root, "theia")

    def prepare(self, ws: Mapping[str, Any]) -> None:
        """Create the folders (files kept as they are) and write the IDE's configuration."""
        for path in (self.files, self.home, self.config):
            os.makedirs(path, exist_ok=True)
        ide.seed_config_dir(Path(self.config))
        settings = os.path.join(self.config, "settings.json")
        tmp = settings + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(theia_settings(ws), fh, indent=2)
        os.replace(tmp, settings)

    def remove(self) -> None:
        """The workspace was deleted: its storage goes with it."""
        shutil.rmtree(self.root, ignore_errors=True)


def folders(dataplane_dir: str, wid: str) -> WorkspaceFolders:
    return WorkspaceFolders(os.path.join(dataplane_dir, wid))


def unavailable(kind: IdeKind) -> str | None:
    """Why the IDE of this kind cannot run here (and how to fix it), or None."""
    if kind == "placeholder":
        return None
    if reason := ide.node_missing():
        return f"the workspace IDE needs node: {reason}; or set CODITECT_IDE=placeholder"
    if not ide.BACKEND_MAIN.exists():
        return (
            f"the workspace IDE is not built ({ide.BACKEND_MAIN} is missing): run `make ide`, "
            "or set CODITECT_IDE=placeholder"
        )
    return None


def spawn(
    kind: IdeKind,
    where: WorkspaceFolders,
    *,
    host: str,
    port: int,
    base_env: Mapping[str, str],
    cwd: str,
    out: BinaryIO,
) -> subprocess.Popen[bytes]:
    """Start the IDE on ``host:port`` in its own process group."""
    if kind == "theia":
        args = ["node", str(ide.BACKEND_MAIN), "--hostname", host, "--port", str(port)]
        args.append(where.files)
        env = {
            **base_env,
            "HOME": where.home,
            "THEIA_CONFIG_DIR": where.config,
            # The terminal's shell; Theia falls back to sh without it.
            "SHELL": base_env.get("SHELL") or shutil.which("bash") or "/bin/sh",
        }
        cwd = where.files
    else:
        args = [sys.executable, "-m", "sidecar.placeholder_ide", "--host", host]
        args += ["--port", str(port)]
        env = dict(base_env)
    return subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the IDE's whole process group (Theia's watcher, terminal shells)."""
    try:
        os.killpg(proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    signal_group(proc, signal.SIGKILL)


def answers(host: str, port: int) -> bool:
    """The IDE serves its page (not only listens): ``GET /`` is 200."""
    try:
        with _DIRECT.open(f"http://{host}:{port}/", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


# Loopback never goes through a proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class IdeUnavailable(RuntimeError):
    """The workspace IDE cannot run here; the message says how to fix it."""


def ensure_built(kind: IdeKind, build: bool) -> str:
    """Build Theia when its inputs changed (``ide/build.sh`` is cached); what the stack runs."""
    if kind == "placeholder":
        return "CODITECT_IDE=placeholder"
    if build and not ide.node_missing():
        started = time.monotonic()
        try:
            report = ide.build()
        except ide.IdeError as error:
            raise IdeUnavailable(
                f"the workspace IDE could not be built ({error}); fix it and run `make ide`, "
                "or set CODITECT_IDE=placeholder"
            ) from None
        built = "took" in report  # build.sh says "... took N s" for each step it ran
        state = f"built in {time.monotonic() - started:.0f} s" if built else "cached build"
    else:
        state = "not rebuilt (CODITECT_IDE_BUILD=0)"
    if reason := unavailable(kind):
        raise IdeUnavailable(reason)
    return f"Theia from ide/, {state}"
