"""Running the sidecar: listen, serve until SIGTERM/SIGINT, then shut down gracefully.

Shutdown: stop accepting (close the listening socket), close idle keep-alive connections, let
in-flight requests and open WebSockets carry on for up to ``shutdown_grace_seconds``, then ask
the remaining WebSockets to close (1001 going away, relayed through the upstream) and exit.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable

from aiohttp import web

from .app import SIDECAR, create_app, runner_kwargs
from .config import Config
from .logs import get_logger

log = get_logger("sidecar")


async def serve(config: Config, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    app = create_app(config)
    sidecar = app[SIDECAR]
    runner = web.AppRunner(app, handle_signals=False, **runner_kwargs())  # type: ignore[arg-type]
    await runner.setup()
    site = web.TCPSite(runner, config.listen_host, config.listen_port, backlog=1024)
    await site.start()

    metrics_runner = web.AppRunner(sidecar.metrics.app(), access_log=None, handle_signals=False)
    await metrics_runner.setup()
    await web.TCPSite(metrics_runner, config.metrics_host, config.metrics_port).start()
    log.info(
        "sidecar listening",
        extra={
            "port": config.listen_port,
            "metrics_port": config.metrics_port,
            "upstream": config.upstream_url,
            "workspace_id": config.workspace_id,
        },
    )

    await stop.wait()
    log.info("shutting down", extra={"grace_seconds": config.shutdown_grace_seconds})
    await site.stop()
    if runner.server is not None:
        runner.server.pre_shutdown()  # idle keep-alive connections close now
    await _wait_until(lambda: not sidecar.active_connections, config.shutdown_grace_seconds)
    if sidecar.splices:
        log.info("closing websockets", extra={"count": len(sidecar.splices)})
        sidecar.close_websockets()
        await _wait_until(lambda: not sidecar.splices, 3.0)
    await runner.cleanup()
    await metrics_runner.cleanup()
    log.info("sidecar stopped")


async def _wait_until(done: Callable[[], bool], seconds: float) -> None:
    # Polling a counter every 50 ms during shutdown beats wiring an event into every close path.
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
