"""Stripe for ``make dev``: localstripe, seeded, with its webhook pointed at the local origin.

The component starts ``localstripe`` as a subprocess on a free loopback port (its data kept in
``<data dir>/localstripe.pickle``, so a restart keeps customers and subscriptions), creates the
products and the two plans, registers the webhook ``<origin>/webhooks/stripe`` signed with the
``stripe-webhook-secret`` secret (default ``whsec_coditect_local``), and wires the billing service
to it. localstripe has no Checkout and no Billing Portal, so a small stand-in serves Stripe's two
session endpoints and their pages; each page ends as Stripe does, with a signed webhook.

``python -m devstack.billing localstripe --port N --data FILE`` is the subprocess: localstripe's
own app, bound to 127.0.0.1 (it binds every interface on its own) and persisting to FILE (it
hard-codes /tmp/localstripe.pickle, which every instance on the machine would share).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devstack.stack import LocalStack

DEFAULT_API_KEY = "sk_test_coditect_local"
DEFAULT_WEBHOOK_SECRET = "whsec_coditect_local"
WEBHOOK_ID = "coditect"
# localstripe speaks plans, not prices: these ids stand where production has price ids.
LOCAL_PLANS = {
    "starter": {"id": "coditect-starter-monthly", "amount": 2900, "name": "Coditect Starter"},
    "pro": {"id": "coditect-pro-monthly", "amount": 9900, "name": "Coditect Pro"},
}


# -- localstripe subprocess ----------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"localstripe exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("localstripe did not start in time")


class LocalStripe:
    """A localstripe subprocess; ``url`` is its API base."""

    def __init__(self, data_file: str | None = None, log_file: str | None = None) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "devstack.billing", "localstripe", "--port", str(self.port)]
        if data_file:
            cmd += ["--data", data_file]
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self._log = open(log_file or os.devnull, "ab")  # closed in stop()
        self.proc = subprocess.Popen(
            cmd, cwd=root, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        try:
            _wait_for_port(self.port, self.proc)
        except Exception:
            self.stop()
            raise

    def register_webhook(self, url: str, secret: str) -> None:
        import requests

        response = requests.post(
            f"{self.url}/_config/webhooks/{WEBHOOK_ID}",
            data={"url": url, "secret": secret},
            timeout=10,
        )
        response.raise_for_status()

    def reset(self) -> None:
        import requests

        requests.delete(f"{self.url}/_config/data", timeout=10).raise_for_status()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def seed_plans(client: Any) -> dict[str, tuple[str, ...]]:
    """Products and plans on localstripe (kept across restarts); returns plan -> ids."""
    import stripe

    for plan in LOCAL_PLANS.values():
        try:
            client.v1.plans.retrieve(plan["id"])
            continue
        except stripe.InvalidRequestError:
            pass
        product = client.v1.products.create(params={"name": plan["name"]})
        client.v1.plans.create(
            params={
                "id": plan["id"],
                "product": product.id,
                "amount": plan["amount"],
                "currency": "usd",
                "interval": "month",
            }
        )
    return {name: (plan["id"],) for name, plan in LOCAL_PLANS.items()}


def run_localstripe(port: int, data_file: str | None) -> None:
    """The subprocess body: localstripe's aiohttp app on loopback, persisting to ``data_file``."""
    import pickle

    from aiohttp import web
    from localstripe import resources, server

    store = resources.store
    if data_file:

        def dump() -> None:
            tmp = data_file + ".tmp"
            with open(tmp, "wb") as fh:
                pickle.dump(dict(store), fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, data_file)

        if os.path.exists(data_file):
            with open(data_file, "rb") as fh:
                dict.update(store, pickle.load(fh))  # noqa: S301 - our own file, written above
        # The instance's methods win over the class's hard-coded /tmp path.
        store.dump_to_disk = dump
    else:
        store.dump_to_disk = lambda: None
    web.run_app(server.app, host="127.0.0.1", port=port, print=None, access_log=None)


# -- Checkout and Portal stand-in ----------------------------------------------------------------
class SessionsStandIn:
    """Stripe's Checkout Session and Billing Portal Session endpoints, with their pages.

    ``POST /v1/checkout/sessions`` and ``POST /v1/billing_portal/sessions`` answer like Stripe
    (the SDK is pointed here for those two); the pages then act on localstripe and finish with
    the webhook Stripe would send, signed with the webhook secret.
    """

    def __init__(
        self,
        localstripe_url: str,
        api_key: str,
        webhook_url: str,
        webhook_secret: str,
        plan_names: dict[str, str],
    ) -> None:
        import stripe

        self.client = stripe.StripeClient(
            api_key, base_addresses={"api": localstripe_url}, max_network_retries=0
        )
        self.api_key = api_key
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.plan_names = plan_names  # plan id -> name
        self.sessions: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.port = 0
        self.url = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # -- plumbing -----------------------------------------------------------------------------
    def start(self) -> None:
        import waitress

        self._server = waitress.create_server(
            self.app(), host="127.0.0.1", port=0, threads=4, ident="stripe-stand-in"
        )
        self.port = self._server.effective_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.run, name="stripe-stand-in", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def send_event(self, kind: str, obj: dict[str, Any]) -> int:
        """Deliver a signed event to the platform's webhook, as Stripe would."""
        import requests
        import stripe

        event = {
            "id": "evt_" + secrets.token_hex(12),
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": obj},
        }
        payload = json.dumps(event)
        header = stripe.WebhookSignature.generate_signature_header(payload, self.webhook_secret)
        response = requests.post(
            self.webhook_url,
            data=payload.encode(),
            headers={"Content-Type": "application/json", "Stripe-Signature": header},
            timeout=30,
        )
        return response.status_code

    def _authorized(self, request: Any) -> bool:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(key, self.api_key)

    def app(self) -> Any:
        from flask import Flask, Response, redirect, request

        app = Flask("stripe-stand-in")

        def error(status: int, message: str) -> Response:
            body = {"error": {"type": "invalid_request_error", "message": message}}
            return Response(json.dumps(body), status=status, mimetype="application/json")

        @app.post("/v1/checkout/sessions")
        def create_checkout() -> Any:
            if not self._authorized(request):
                return error(401, "Invalid API Key provided")
            form = request.form
            price = form.get("line_items[0][price]")
            if form.get("mode") != "subscription" or not form.get("customer") or not price:
                return error(400, "mode=subscription, customer and line_items[0][price] required")
            session_id = "cs_test_" + secrets.token_hex(12)
            session = {
                "id": session_id,
                "object": "checkout.session",
                "mode": "subscription",
                "status": "open",
                "customer": form["customer"],
                "client_reference_id": form.get("client_reference_id"),
                "success_url": form.get("success_url"),
                "cancel_url": form.get("cancel_url"),
                "metadata": {
                    k[len("metadata[") : -1]: v
                    for k, v in form.items()
                    if k.startswith("metadata[")
                },
                "price": price,
                "subscription": None,
                "url": f"{self.url}/checkout/{session_id}",
            }
            with self._lock:
                self.sessions[session_id] = session
            return Response(json.dumps(session), mimetype="application/json")

        @app.post("/v1/billing_portal/sessions")
        def create_portal() -> Any:
            if not self._authorized(request):
                return error(401, "Invalid API Key provided")
            customer = request.form.get("customer")
            if not customer:
                return error(400, "customer is required")
            session_id = "bps_" + secrets.token_hex(12)
            session = {
                "id": session_id,
                "object": "billing_portal.session",
                "customer": customer,
                "return_url": request.form.get("return_url"),
                "url": f"{self.url}/portal/{session_id}",
            }
            with self._lock:
                self.sessions[session_id] = session
            return Response(json.dumps(session), mimetype="application/json")

        @app.get("/checkout/<session_id>")
        def checkout_page(session_id: str) -> Any:
            session = self.sessions.get(session_id)
            if not session or session["status"] != "open":
                return Response("This checkout session is not open.", status=404)
            name = html.escape(self.plan_names.get(session["price"], session["price"]))
            return Response(
                f"""<!doctype html><title>Checkout (local stand-in)</title>
<h1>Subscribe to {name}</h1>
<p>Local stand-in for Stripe Checkout: pick a test card.</p>
<form method="post"><button name="card" value="pm_card_visa">Pay with 4242 (succeeds)</button>
<button name="card" value="pm_card_chargeCustomerFail">Pay with 0341 (declined)</button></form>
<p><a href="{html.escape(session["cancel_url"] or "/")}">Cancel</a></p>""",
                mimetype="text/html",
            )

        @app.post("/checkout/<session_id>")
        def checkout_pay(session_id: str) -> Any:
            import stripe

            with self._lock:
                session = self.sessions.get(session_id)
                if not session or session["status"] != "open":
                    return Response("This checkout session is not open.", status=404)
                session["status"] = "processing"
            card = request.form.get("card", "pm_card_visa")
            try:
                self.client.v1.payment_methods.attach(
                    card, params={"customer": session["customer"]}
                )
                self.client.v1.customers.update(
                    session["customer"],
                    params={"invoice_settings": {"default_payment_method": card}},
                )
                sub = self.client.v1.subscriptions.create(
                    params={
                        "customer": session["customer"],
                        "items": [{"plan": session["price"]}],
                        "metadata": session["metadata"],
                        "payment_behavior": "error_if_incomplete",
                    }
                )
            except stripe.StripeError as failure:
                session["status"] = "open"  # as Checkout: the page stays, the card is refused
                return Response(
                    f"Payment failed: {html.escape(str(failure.user_message or 'declined'))}",
                    status=402,
                )
            session.update(status="complete", subscription=sub.id, payment_status="paid")
            self.send_event("checkout.session.completed", session)
            return redirect(session["success_url"] or "/", code=303)

        @app.get("/portal/<session_id>")
        def portal_page(session_id: str) -> Any:
            session = self.sessions.get(session_id)
            if not session:
                return Response("Unknown portal session.", status=404)
            subs = self.client.v1.subscriptions.list(params={"customer": session["customer"]})
            rows = []
            for sub in subs.data:
                plan_id = sub["items"]["data"][0]["plan"]["id"]
                options = "".join(
                    f'<button name="plan" value="{html.escape(pid)}">Switch to '
                    f"{html.escape(name)}</button>"
                    for pid, name in self.plan_names.items()
                    if pid != plan_id
                )
                rows.append(
                    f"<li>{html.escape(self.plan_names.get(plan_id, plan_id))} — "
                    f"{html.escape(sub.status)}"
                    f'<form method="post" action="/portal/{session_id}/switch">'
                    f'<input type="hidden" name="subscription" value="{sub.id}">{options}</form>'
                    f'<form method="post" action="/portal/{session_id}/cancel">'
                    f'<input type="hidden" name="subscription" value="{sub.id}">'
                    f"<button>Cancel subscription</button></form></li>"
                )
            return Response(
                "<!doctype html><title>Billing portal (local stand-in)</title>"
                f"<h1>Your subscriptions</h1><ul>{''.join(rows) or '<li>none</li>'}</ul>"
                f'<p><a href="{html.escape(session["return_url"] or "/")}">Back</a></p>',
                mimetype="text/html",
            )

        def _owned(session_id: str) -> tuple[dict[str, Any], Any] | None:
            session = self.sessions.get(session_id)
            sub_id = request.form.get("subscription", "")
            if not session or not sub_id.startswith("sub_"):
                return None
            sub = self.client.v1.subscriptions.retrieve(sub_id)
            return (session, sub) if sub.customer == session["customer"] else None

        @app.post("/portal/<session_id>/cancel")
        def portal_cancel(session_id: str) -> Any:
            found = _owned(session_id)
            if not found:
                return Response("Not your subscription.", status=404)
            # localstripe sends customer.subscription.deleted itself, signed.
            self.client.v1.subscriptions.cancel(found[1].id)
            return redirect(found[0]["return_url"] or "/", code=303)

        @app.post("/portal/<session_id>/switch")
        def portal_switch(session_id: str) -> Any:
            found = _owned(session_id)
            plan_id = request.form.get("plan", "")
            if not found or plan_id not in self.plan_names:
                return Response("Not your subscription or unknown plan.", status=404)
            session, sub = found
            item = sub["items"]["data"][0]["id"]
            updated = self.client.v1.subscriptions.update(
                sub.id, params={"items": [{"id": item, "plan": plan_id}]}
            )
            # localstripe does not emit "updated"; Stripe does, so the stand-in sends it.
            self.send_event("customer.subscription.updated", updated.to_dict())
            return redirect(session["return_url"] or "/", code=303)

        return app


# -- the component -------------------------------------------------------------------------------
def start_billing(stack: LocalStack) -> Callable[[], None]:
    """``COMPONENTS`` entry: localstripe + the sessions stand-in, wired into billing."""
    from shared.billing.settings import BillingSettings
    from shared.billing.wiring import build_billing_service
    from shared.secret_names import STRIPE_API_KEY, STRIPE_WEBHOOK_SECRET
    from shared.secrets import LocalSecrets

    services = stack.services
    assert services is not None
    if os.environ.get("CODITECT_STRIPE_API_BASE"):
        stack.started.append("billing: Stripe API from CODITECT_STRIPE_API_BASE (no localstripe)")
        return lambda: None

    # Local secrets: the environment wins (LocalSecrets reads it first); else documented defaults.
    if isinstance(services.secrets, LocalSecrets):
        for name, default in (
            (STRIPE_API_KEY, DEFAULT_API_KEY),
            (STRIPE_WEBHOOK_SECRET, DEFAULT_WEBHOOK_SECRET),
        ):
            if not services.secrets.versions(name, 1):
                services.secrets.add_version(name, default.encode())
    api_key = services.secrets.get(STRIPE_API_KEY).decode().strip()
    webhook_secret = services.secrets.get(STRIPE_WEBHOOK_SECRET).decode().strip()

    data_dir = os.path.abspath(stack.settings.data_dir)
    os.makedirs(data_dir, exist_ok=True)
    local = LocalStripe(
        os.path.join(data_dir, "localstripe.pickle"), os.path.join(data_dir, "localstripe.log")
    )
    standin: SessionsStandIn | None = None
    try:
        import stripe

        client = stripe.StripeClient(
            api_key, base_addresses={"api": local.url}, max_network_retries=0
        )
        prices = seed_plans(client)
        webhook_url = f"{stack.url}/webhooks/stripe"
        local.register_webhook(webhook_url, webhook_secret)
        standin = SessionsStandIn(
            local.url,
            api_key,
            webhook_url,
            webhook_secret,
            {plan["id"]: plan["name"] for plan in LOCAL_PLANS.values()},
        )
        standin.start()
        settings = BillingSettings(
            api_base=local.url,
            sessions_api_base=standin.url,
            flavor="localstripe",
            prices=prices,
            network_retries=0,
        )
        services.use(billing=build_billing_service(services, settings))
    except Exception:
        if standin is not None:
            standin.stop()
        local.stop()
        raise
    stack.started.append(
        f"localstripe {local.url} (webhook -> {webhook_url}, plans "
        f"{', '.join(p['id'] for p in LOCAL_PLANS.values())})"
    )
    stack.started.append(f"Stripe Checkout/Portal stand-in {standin.url}")

    def stop() -> None:
        standin.stop()
        local.stop()

    return stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.billing")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("localstripe", help="run localstripe on loopback")
    run.add_argument("--port", type=int, required=True)
    run.add_argument("--data", default=None, help="persist to this file (default: memory only)")
    args = parser.parse_args(argv)
    run_localstripe(args.port, args.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
