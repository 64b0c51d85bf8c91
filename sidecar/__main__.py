"""``python -m sidecar``: read the environment, refuse to start on bad config, serve."""

from __future__ import annotations

import asyncio
import sys

from .config import Config, ConfigError
from .logs import get_logger, setup_logging
from .server import serve


def main() -> int:
    try:
        config = Config.from_env()
    except ConfigError as exc:
        setup_logging("INFO")
        get_logger("sidecar").error("invalid configuration", extra={"error": str(exc)})
        print(f"sidecar: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.log_level)
    try:
        import uvloop
    except ImportError:  # optional: ~15% faster relaying
        asyncio.run(serve(config))
    else:
        uvloop.run(serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
