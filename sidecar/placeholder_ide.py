"""A tiny stand-in for the IDE: ``python -m sidecar.placeholder_ide --port N``.

Serves an HTML page at ``/`` (title "Coditect workspace", a WebSocket echo demo) and a WebSocket
echo at ``/ws`` (text and binary echoed; a client close code is answered with the same code).
The local stack runs it behind a real sidecar so the launch flow works in a browser. Like Theia,
it knows nothing about Coditect: the sidecar injects its input beacon into the page.

It guards its socket as Theia does: the page sets a ``theia-connection-token`` cookie
(``HttpOnly; SameSite=Strict``), and an upgrade without that cookie, or whose ``Origin`` host
differs from ``Host``, is refused with 403. So what works here through the sidecar (top-level
and inside the app's iframe) works with Theia's rules.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Coditect workspace</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 2rem; max-width: 44rem; }
 #status { font-weight: bold; }
 #log { background: #f4f4f4; padding: .5rem; min-height: 6rem; white-space: pre-wrap; }
</style>
</head>
<body>
<h1>Coditect workspace</h1>
<p>Connected to your workspace. WebSocket: <span id="status">connecting&hellip;</span></p>
<form id="form"><input id="msg" value="hello" autocomplete="off"> <button>Send</button></form>
<div id="log"></div>
<script>
const status = document.getElementById("status");
const log = document.getElementById("log");
const scheme = location.protocol === "https:" ? "wss://" : "ws://";
const ws = new WebSocket(scheme + location.host + "/ws");
ws.onopen = () => { status.textContent = "connected"; };
ws.onclose = (e) => { status.textContent = "closed (" + e.code + ")"; };
ws.onmessage = (e) => { log.textContent += "echo: " + e.data + "\\n"; };
document.getElementById("form").onsubmit = (e) => {
  e.preventDefault();
  ws.send(document.getElementById("msg").value);
};
</script>
</body>
</html>
"""


TOKEN_COOKIE = "theia-connection-token"
CONNECTION_TOKEN = web.AppKey("connection_token", str)


async def index(request: web.Request) -> web.Response:
    resp = web.Response(text=PAGE, content_type="text/html")
    token = request.app[CONNECTION_TOKEN]
    resp.set_cookie(TOKEN_COOKIE, token, path="/", httponly=True, samesite="Strict")
    return resp


def _refusal(request: web.Request) -> str | None:
    """Theia's two checks on an upgrade: its cookie, and Origin's host equal to Host."""
    if request.cookies.get(TOKEN_COOKIE) != request.app[CONNECTION_TOKEN]:
        return "missing or wrong connection token"
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc.lower() != request.host.lower():
        return "origin does not match host"
    return None


async def echo(request: web.Request) -> web.StreamResponse:
    refusal = _refusal(request)
    if refusal is not None:
        return web.Response(status=403, text=refusal)
    ws = web.WebSocketResponse(compress=False, autoclose=False, max_msg_size=0)
    await ws.prepare(request)
    # Not `async for`: it ends at a close frame before its code can be echoed.
    while not ws.closed:
        msg = await ws.receive()
        if msg.type == WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
        elif msg.type == WSMsgType.CLOSE:
            await ws.close(code=msg.data or 1000, message=(msg.extra or "").encode())
        elif msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR):
            break
    return ws


def make_app() -> web.Application:
    app = web.Application()
    app[CONNECTION_TOKEN] = secrets.token_urlsafe(16)
    app.router.add_get("/", index)
    app.router.add_get("/ws", echo)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve(args.host, args.port))


async def _serve(host: str, port: int) -> None:
    runner = web.AppRunner(make_app(), handle_signals=True)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    print(f"placeholder IDE on http://{host}:{port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    main()
