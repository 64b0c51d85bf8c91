"""``python -m shared.llm``: the gateway as a Cloud Run service (``PORT``, default 8080)."""

from __future__ import annotations

import asyncio

from aiohttp import web


def main() -> None:
    from shared import wiring
    from shared.llm.gateway import Gateway, create_app, runner_kwargs

    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # optional: the standard loop works, a little slower
        pass
    svc = wiring.services()
    gateway = Gateway(svc.db, svc.secrets, svc.clock, svc.settings.llm)
    web.run_app(
        create_app(gateway),
        host="0.0.0.0",  # Cloud Run routes to the container's port
        port=svc.settings.llm.port,
        **runner_kwargs(),
    )


if __name__ == "__main__":
    main()
