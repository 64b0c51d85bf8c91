"""The workspace IDE (``ide/``, an Eclipse Theia application) on this machine: build it, start it.

    python -m devstack.ide build    # npm ci + theia build, each only when its inputs changed
    python -m devstack.ide start FOLDER [--port 3000] [--config-dir DIR]

The build itself is ``ide/build.sh`` (content-hashed stamps); this module runs it and starts the
backend the way the workspace image does (``node lib/backend/main.js ... <folder>``) with
``THEIA_CONFIG_DIR`` set, so tests and bench scripts share one way in.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IDE_DIR = ROOT / "ide"
# The application that runs: ide/ itself, or (CODITECT_IDE_DIR) a copy of its lib/ alone, laid out
# as the image holds it.
APP_DIR = Path(os.environ.get("CODITECT_IDE_DIR", str(IDE_DIR)))
BACKEND_MAIN = APP_DIR / "lib" / "backend" / "main.js"
# Coditect's chat agent; a workspace's THEIA_CONFIG_DIR holds it under prompt-templates/.
PROMPT_TEMPLATES = IDE_DIR / "prompt-templates"


class IdeError(RuntimeError):
    pass


def node_missing() -> str | None:
    """Why the IDE cannot be built or run here, or None when node and npm are installed."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if not missing:
        return None
    return f"{' and '.join(missing)} not installed (Debian: apt-get install nodejs npm)"


def build(*, force: bool = False) -> str:
    """Run ide/build.sh; returns its report (what it did, how long). Raises IdeError on failure."""
    args = ["bash", str(IDE_DIR / "build.sh")] + (["--force"] if force else [])
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise IdeError(f"ide/build.sh failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


@dataclass
class Theia:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            # Its own process group: the file watcher and terminals' shells go with it.
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def seed_config_dir(config_dir: Path) -> None:
    """Put Coditect's chat agent into a Theia configuration directory (as the image does)."""
    target = config_dir / "prompt-templates"
    shutil.copytree(PROMPT_TEMPLATES, target, dirs_exist_ok=True)


def start(
    folder: Path,
    *,
    port: int,
    config_dir: Path,
    log_path: Path,
    hostname: str = "127.0.0.1",
    timeout: float = 60.0,
) -> Theia:
    """Start the built backend on ``hostname:port`` serving ``folder``; wait until it answers."""
    if not BACKEND_MAIN.exists():
        raise IdeError(f"{BACKEND_MAIN} is missing: run `python -m devstack.ide build` first")
    env = {**os.environ, "THEIA_CONFIG_DIR": str(config_dir)}
    # The terminal's shell, as the workspace image sets it; Theia falls back to sh without it.
    env.setdefault("SHELL", shutil.which("bash") or "/bin/sh")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["node", str(BACKEND_MAIN), "--hostname", hostname, "--port", str(port), str(folder)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    theia = Theia(process, f"http://{hostname}:{port}", log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise IdeError(f"the IDE backend exited ({process.returncode}):\n{theia.log()}")
        try:
            with urllib.request.urlopen(theia.url + "/", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return theia
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    theia.stop()
    raise IdeError(f"the IDE backend did not answer within {timeout:.0f} s:\n{theia.log()}")


def descendants(pid: int) -> list[int]:
    """A process and all its descendants (Linux /proc), parents first."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop(0)
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def process_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return ""


def tree_rss_kib(pid: int) -> dict[int, int]:
    """Resident memory (KiB) of a process and all its descendants, by pid."""
    rss: dict[int, int] = {}
    for current in descendants(pid):
        try:
            with open(f"/proc/{current}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        rss[current] = int(line.split()[1])
        except OSError:
            continue
    return rss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.ide", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="build ide/ when its inputs changed")
    build_cmd.add_argument("--force", action="store_true", help="rebuild even if up to date")
    start_cmd = commands.add_parser("start", help="run the built IDE in the foreground")
    start_cmd.add_argument("folder", type=Path)
    start_cmd.add_argument("--port", type=int, default=3000)
    start_cmd.add_argument("--hostname", default="127.0.0.1")
    start_cmd.add_argument("--config-dir", type=Path, default=ROOT / ".coditect" / "theia")
    args = parser.parse_args(argv)
    if reason := node_missing():
        print(f"ide: {reason}", file=sys.stderr)
        return 1
    try:
        if args.command == "build":
            print(build(force=args.force), end="")
            return 0
        args.config_dir.mkdir(parents=True, exist_ok=True)
        seed_config_dir(args.config_dir)
        theia = start(
            args.folder.resolve(),
            port=args.port,
            config_dir=args.config_dir,
            hostname=args.hostname,
            log_path=args.config_dir / "backend.log",
        )
    except IdeError as exc:
        print(f"ide: {exc}", file=sys.stderr)
        return 1
    print(f"ide: {theia.url} serving {args.folder} (log {theia.log_path}); Ctrl-C stops it")
    try:
        theia.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        theia.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
