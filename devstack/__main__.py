"""``python -m devstack`` (``make dev``): run the platform locally, in the foreground."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from devstack.settings import DevstackSettings
from devstack.stack import LocalStack
from shared import logs
from shared.settings import Settings


def main() -> int:
    settings = Settings.from_env()
    dev = DevstackSettings.from_env()
    port = dev.port
    if "CODITECT_PUBLIC_URL" not in os.environ:
        settings = Settings.from_env(
            {**os.environ, "CODITECT_PUBLIC_URL": f"http://127.0.0.1:{port}"}
        )
    logs.configure("devstack", settings.log_level)
    # Client libraries' per-request chatter would bury the stack's own lines.
    for noisy in ("stripe", "urllib3", "kubernetes"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    stack = LocalStack(settings, port=port, dev=dev)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stack.start()
    print(f"Coditect local stack on {stack.url}", flush=True)
    for line in stack.started:
        print(f"  - {line}", flush=True)
    print("Ctrl-C stops it; data is kept for the next start.", flush=True)
    stop.wait()
    print("stopping...", flush=True)
    stack.stop()
    print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
