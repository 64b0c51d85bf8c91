"""The workspace IDE's figures on this machine, as the README reports them.

    .venv/bin/python bench/ide_bench.py [--cold] [--renders 3]

Build: ``ide/build.sh`` (with ``--cold``: ``--force``, i.e. ``npm ci`` and ``theia build`` from
scratch) and the disk size of ide/ afterwards. Run: the backend started as the tests start it on
an empty folder; its resident memory (backend and its children: file watcher, terminals) idle and
with a workbench open; the time from navigation to the rendered workbench (``#theia-app-shell``)
and to the ready workbench (loading indicator gone) in headless Chromium, each in a fresh browser
context (no cache), as the median of ``--renders`` loads.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devstack import ide  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


def rss_report(pid: int) -> str:
    by_pid = ide.tree_rss_kib(pid)
    parts = ", ".join(f"{ide.process_name(p)} {mib(k)}" for p, k in by_pid.items())
    return f"{mib(sum(by_pid.values()))} ({parts})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", action="store_true", help="npm ci and build from scratch")
    parser.add_argument("--renders", type=int, default=3)
    args = parser.parse_args()
    if reason := ide.node_missing():
        print(f"ide: {reason}", file=sys.stderr)
        return 1

    started = time.monotonic()
    report = ide.build(force=args.cold)
    print(f"build ({'cold' if args.cold else 'cached'}): {time.monotonic() - started:.1f} s")
    for line in report.splitlines():
        if line.startswith("ide: "):
            print("  " + line[5:])
    size = subprocess.run(["du", "-sh", str(ide.IDE_DIR)], capture_output=True, text=True)
    print(f"ide/ on disk: {size.stdout.split()[0]}")

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder, config = Path(tmp) / "project", Path(tmp) / "config"
        folder.mkdir()
        config.mkdir()
        ide.seed_config_dir(config)
        t0 = time.monotonic()
        theia = ide.start(folder, port=free_port(), config_dir=config, log_path=Path(tmp) / "log")
        print(f"backend answers after {time.monotonic() - t0:.2f} s")
        try:
            time.sleep(2)
            print(f"backend RSS idle: {rss_report(theia.process.pid)}")
            shell_ms, ready_ms = [], []
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
                )
                for _ in range(args.renders):
                    context = browser.new_context(viewport={"width": 1400, "height": 900})
                    page = context.new_page()
                    t0 = time.monotonic()
                    page.goto(theia.url + "/")
                    page.wait_for_selector("#theia-app-shell", timeout=120_000)
                    shell_ms.append((time.monotonic() - t0) * 1000)
                    page.wait_for_selector(".theia-preload", state="detached", timeout=120_000)
                    ready_ms.append((time.monotonic() - t0) * 1000)
                    time.sleep(1)
                    print(f"backend RSS, workbench open: {rss_report(theia.process.pid)}")
                    context.close()
                browser.close()
            print(
                f"workbench rendered (#theia-app-shell): median "
                f"{statistics.median(shell_ms):.0f} ms of {[round(m) for m in shell_ms]}"
            )
            print(
                f"workbench ready (loading indicator gone): median "
                f"{statistics.median(ready_ms):.0f} ms of {[round(m) for m in ready_ms]}"
            )
        finally:
            theia.stop()
    print(f"(load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
