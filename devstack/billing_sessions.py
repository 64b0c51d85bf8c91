"""Stripe Checkout and Billing Portal for ``make dev``: localstripe has neither, so this stand-in
serves Stripe's two session endpoints and their pages; each page ends as Stripe does, with a
signed webhook to the platform."""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
from typing import Any


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
