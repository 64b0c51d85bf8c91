"""``python -m devstack.app`` (``make web``): build ``web/`` if its sources or lockfile changed."""

from __future__ import annotations

import sys

from devstack.app import ensure_built


def main() -> int:
    result = ensure_built()
    state = "built" if result.built else "up to date"
    print(f"web app {state} ({result.content_hash}) in {result.seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
