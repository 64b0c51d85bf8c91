"""The IDE behind each local sidecar: the real one (Eclipse Theia, built from ``ide/``) or the
light placeholder page (``CODITECT_IDE=placeholder``, for fast runs).

Each workspace has a folder of its own under the data plane's directory, the local twin of its
pod's volumes::

    <data>/dataplane/<workspace id>/files   the workspace's files (its PVC): kept across
                                            stop/start, removed on delete
    <data>/dataplane/<workspace id>/home    HOME of the IDE and its terminals
    <data>/dataplane/<workspace id>/theia   THEIA_CONFIG_DIR: Coditect's chat agent and the
                                            settings.json the platform renders, as for a pod

Theia runs as the workspace image runs it (``node lib/backend/main.js --hostname H --port P
<folder>``) in a process group of its own, so its file watcher and the terminals' shells end
with it.

Its ``settings.json`` is what the provisioner puts into a pod's settings Secret
(``shared.provisioner.theia.workspace_settings``): the tenant's plan's models at the LLM gateway on
the stack's origin (``<origin>/api/llm/v1``, which the Theia backend calls) with the workspace's
own LLM key; so the chat is metered as in the cluster. Rewritten at every start: a plan change
reaches it at the next start, as a pod's Secret at its next converge.
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
from shared.llm.theia_settings import SETTINGS_FILE

IdeKind = Literal["theia", "placeholder"]


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

    def prepare(self, settings: Mapping[str, Any]) -> None:
        """Create the folders (files kept as they are) and write the IDE's configuration:
        Coditect's chat agent and ``settings`` (it holds the workspace's LLM key: owner only,
        as the pod's Secret volume is)."""
        for path in (self.files, self.home, self.config):
            os.makedirs(path, exist_ok=True)
        ide.seed_config_dir(Path(self.config))
        target = os.path.join(self.config, SETTINGS_FILE)
        tmp = target + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(settings, fh, indent=2)
        os.replace(tmp, target)

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
