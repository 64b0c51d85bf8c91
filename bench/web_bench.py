"""The web app's figures in Chromium on the local stack, as the README reports.

    .venv/bin/python bench/web_bench.py [--rounds 5]

Builds web/ (cached), starts `python -m devstack` on a free port with a fresh data dir, signs a
user up with two workspaces through the API, then in Debian's Chromium (playwright):

* the landing page's initial JavaScript: every script it loads before any interaction, each
  gzipped at level 9, summed (a fresh browser context: nothing cached);
* the dashboard's time to interactive: from a click on "Workspaces" in the app (from Billing)
  until the workspace list and its buttons are enabled, and from a full load of /dashboard
  (navigation start, which includes loading the code and renewing the session) to the same;
  medians of ``--rounds``.
"""

from __future__ import annotations

import argparse
import gzip
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
PASSWORD = "correct horse battery"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
# The moment the dashboard answers input: its list is rendered with enabled buttons, and the
# create form is there (disabled on this plan: its one workspace runs).
READY = """() => {
  const open = document.querySelector('[data-testid="workspace"] button');
  return Boolean(open && !open.disabled && document.querySelector('input[name="workspace-name"]'));
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_stack(data_dir: str, port: int, log: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PORT": str(port), "CODITECT_DATA_DIR": data_dir}
    env["KUBE_STANDIN_READY_DELAY"] = "0.2"
    env.pop("KUBECONFIG", None)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devstack"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                with open(log) as fh:
                    if "Ctrl-C stops it" in fh.read():
                        return proc
        except requests.RequestException:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the stack did not start; see {log}")


def seed(url: str) -> str:
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    answer = requests.post(
        f"{url}/api/auth/register", json={"email": email, "password": PASSWORD}, timeout=30
    )
    answer.raise_for_status()
    auth = {"Authorization": "Bearer " + answer.json()["access_token"]}
    for name in ("one",):  # the free plan runs one
        requests.post(f"{url}/api/workspaces", json={"name": name}, headers=auth, timeout=30)
    return email


def landing_js(browser: Any, url: str) -> int:
    context = browser.new_context()
    page = context.new_page()
    scripts: list[Any] = []

    def collect(response: Any) -> None:
        if response.request.resource_type == "script":
            scripts.append(response)

    page.on("response", collect)
    page.goto(url + "/")
    page.wait_for_load_state("networkidle")
    total = sum(len(gzip.compress(r.body(), 9)) for r in scripts if r.ok)
    context.close()
    return total


def dashboard_tti(
    browser: Any, url: str, email: str, rounds: int
) -> tuple[list[float], list[float]]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(url + "/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_function(READY, timeout=30_000)
    in_app: list[float] = []
    full: list[float] = []
    for _ in range(rounds):
        page.get_by_role("link", name="Billing").click()
        page.get_by_test_id("billing-plan").wait_for()
        page.evaluate("window.__t0 = performance.now()")
        page.get_by_role("link", name="Workspaces").click()
        page.wait_for_function(READY, polling="raf")
        in_app.append(page.evaluate("performance.now() - window.__t0"))
        page.reload()
        page.wait_for_function(READY, polling="raf", timeout=30_000)
        full.append(page.evaluate("performance.now()"))
    context.close()
    return in_app, full


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from devstack.app import ensure_built

    built = ensure_built()
    print(f"web app {'built' if built.built else 'cached'} ({built.content_hash})")
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = start_stack(os.path.join(tmp, "data"), port, os.path.join(tmp, "stack.log"))
        url = f"http://127.0.0.1:{port}"
        try:
            email = seed(url)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                try:
                    js = landing_js(browser, url)
                    in_app, full = dashboard_tti(browser, url, email, args.rounds)
                finally:
                    browser.close()
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
    print(f"landing page initial JavaScript: {js / 1024:.1f} KB gzipped (budget 200 KB)")
    print(
        f"dashboard interactive after in-app navigation: median {statistics.median(in_app):.0f} ms"
        f" (min {min(in_app):.0f}, max {max(in_app):.0f}, {len(in_app)} rounds; target < 1000)"
    )
    print(
        f"dashboard interactive after a full load: median {statistics.median(full):.0f} ms"
        f" (min {min(full):.0f}, max {max(full):.0f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
