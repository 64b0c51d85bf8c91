"""The Stripe port and its adapter over the ``stripe`` SDK's ``StripeClient``.

The port speaks plain dicts, so the billing logic never touches SDK objects and tests can read
every value. The SDK is imported on first use (it is heavy; cold starts stay small).

Two dialects, one code path (``BillingSettings.flavor``):

* ``stripe``: the current API. Subscription items name a ``price``; without a card the
  subscription is created ``default_incomplete`` and the browser confirms the invoice's
  ``confirmation_secret``.
* ``localstripe``: items name a ``plan`` and the invoice carries its ``payment_intent``; there is
  no ``default_incomplete`` (without a card localstripe refuses the subscription).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from shared.billing.settings import BillingSettings


class GatewayError(Exception):
    """Stripe said no or could not be reached. ``retryable`` says whether trying later may work.

    ``message`` is safe to show a user (Stripe's user-facing text for card errors, a generic
    sentence otherwise); nothing here ever carries the API key.
    """

    def __init__(
        self, message: str, *, code: str = "stripe_error", retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable


class ProviderNotFound(GatewayError):
    """The object does not exist at Stripe (deleted, another account, test data reset)."""


class StripeGateway(Protocol):
    def create_customer(
        self, *, email: str, name: str | None, metadata: dict[str, str], idempotency_key: str
    ) -> dict[str, Any]: ...

    def set_default_payment_method(
        self, customer_id: str, payment_method_id: str, *, idempotency_key: str
    ) -> None: ...

    def create_subscription(
        self,
        *,
        customer_id: str,
        price_id: str,
        metadata: dict[str, str],
        has_payment_method: bool,
        idempotency_key: str,
    ) -> dict[str, Any]:
        """``{id, status, client_secret, payment_status, error_code, error_message}``."""
        ...

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        """The subscription as Stripe holds it now, normalised by :func:`normalize_subscription`."""
        ...

    def list_subscriptions(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's subscriptions that are not canceled, normalised, newest first."""
        ...

    def create_checkout_session(
        self,
        *,
        customer_id: str,
        price_id: str,
        success_url: str,
        cancel_url: str,
        client_reference_id: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> dict[str, Any]: ...

    def create_portal_session(self, *, customer_id: str, return_url: str) -> dict[str, Any]: ...

    def list_invoices(self, customer_id: str, limit: int) -> list[dict[str, Any]]:
        """The customer's invoices, newest first, normalised by :func:`normalize_invoice`."""
        ...

    def cancel_subscription(self, subscription_id: str) -> dict[str, Any]:
        """Cancel now (no proration); the subscription, normalised."""
        ...


def _plain(obj: Any) -> Any:
    """SDK objects are not dicts (stripe >= 15); everything past the port is plain JSON."""
    to_dict = getattr(obj, "to_dict", None)
    return to_dict() if callable(to_dict) else obj


def _id_of(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None


def normalize_subscription(sub: dict[str, Any]) -> dict[str, Any]:
    """The fields billing decides on, from either dialect."""
    items = ((sub.get("items") or {}).get("data")) or []
    first = items[0] if items else {}
    price_id = _id_of(first.get("price")) or _id_of(first.get("plan"))
    return {
        "id": sub["id"],
        "customer": _id_of(sub.get("customer")),
        "status": sub.get("status"),
        "price_id": price_id,
        "metadata": dict(sub.get("metadata") or {}),
        "created": sub.get("created"),
        "cancel_at_period_end": bool(sub.get("cancel_at_period_end")),
        "current_period_end": first.get("current_period_end") or sub.get("current_period_end"),
    }


def normalize_invoice(invoice: dict[str, Any]) -> dict[str, Any]:
    """What the billing page shows of an invoice, from either dialect (amounts in cents)."""
    return {
        "id": invoice["id"],
        "number": invoice.get("number"),
        "status": invoice.get("status"),
        "currency": invoice.get("currency") or "usd",
        "amount_due": int(invoice.get("amount_due") or 0),
        "amount_paid": int(invoice.get("amount_paid") or 0),
        "created": invoice.get("created") or invoice.get("date"),
        "period_start": invoice.get("period_start"),
        "period_end": invoice.get("period_end"),
        "hosted_invoice_url": invoice.get("hosted_invoice_url"),
    }


class StripeClientGateway:
    """The production adapter: ``StripeClient`` with the key from the secrets port."""

    def __init__(
        self,
        api_key: Callable[[], str],
        settings: BillingSettings,
        *,
        http_client: Any = None,
    ) -> None:
        self._api_key = api_key
        self._settings = settings
        self._http_client = http_client
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    # -- clients ---------------------------------------------------------------------------------
    def _client(self, base: str = "") -> Any:
        key = self._api_key()  # read each call: the secrets port caches, rotation is picked up
        with self._lock:
            client = self._clients.get((key, base))
            if client is None:
                import stripe

                # The SDK logs whole response bodies at DEBUG (client secrets included): keep it
                # quiet whatever LOG_LEVEL says; billing logs its own fields.
                logging.getLogger("stripe").setLevel(logging.WARNING)

                http_client = self._http_client or stripe.RequestsClient(
                    timeout=self._settings.timeout_seconds
                )
                client = stripe.StripeClient(
                    key,
                    base_addresses={"api": base} if base else None,
                    max_network_retries=self._settings.network_retries,
                    http_client=http_client,
                )
                # One client per key and base: an old key's client is dropped on rotation.
                self._clients = {k: v for k, v in self._clients.items() if k[1] != base}
                self._clients[(key, base)] = client
            return client

    @property
    def _api(self) -> Any:
        return self._client(self._settings.api_base).v1

    @property
    def _sessions_api(self) -> Any:
        return self._client(self._settings.sessions_api_base or self._settings.api_base).v1

    def _call(self, fn: Callable[[], Any]) -> dict[str, Any]:
        import stripe

        try:
            return _plain(fn())
        except stripe.CardError as error:
            raise GatewayError(
                error.user_message or "the card was declined",
                code=error.code or "card_declined",
            ) from None
        except stripe.InvalidRequestError as error:
            if error.http_status == 404 or error.code == "resource_missing":
                raise ProviderNotFound("not found at Stripe", code="not_found") from None
            raise GatewayError(
                "Stripe rejected the request", code=error.code or "invalid_request"
            ) from None
        except (stripe.APIConnectionError, stripe.RateLimitError) as error:
            raise GatewayError(
                "Stripe could not be reached", code=type(error).__name__, retryable=True
            ) from None
        except stripe.AuthenticationError:
            # Never echo this one: Stripe's message quotes part of the key.
            raise GatewayError("Stripe rejected the API key", code="stripe_auth") from None
        except stripe.StripeError as error:
            retryable = error.http_status is None or error.http_status >= 500
            raise GatewayError(
                "Stripe failed to answer", code=error.code or "stripe_error", retryable=retryable
            ) from None

    # -- the port --------------------------------------------------------------------------------
    def create_customer(
        self, *, email: str, name: str | None, metadata: dict[str, str], idempotency_key: str
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"email": email, "metadata": metadata}
        if name:
            params["name"] = name
        return self._call(
            lambda: self._api.customers.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        )

    def set_default_payment_method(
        self, customer_id: str, payment_method_id: str, *, idempotency_key: str
    ) -> None:
        self._call(
            lambda: self._api.payment_methods.attach(
                payment_method_id,
                params={"customer": customer_id},
                options={"idempotency_key": idempotency_key + ":attach"},
            )
        )
        self._call(
            lambda: self._api.customers.update(
                customer_id,
                params={"invoice_settings": {"default_payment_method": payment_method_id}},
                options={"idempotency_key": idempotency_key + ":default"},
            )
        )

    def create_subscription(
        self,
        *,
        customer_id: str,
        price_id: str,
        metadata: dict[str, str],
        has_payment_method: bool,
        idempotency_key: str,
    ) -> dict[str, Any]:
        local = self._settings.flavor == "localstripe"
        params: dict[str, Any] = {
            "customer": customer_id,
            "items": [{"plan" if local else "price": price_id}],
            "metadata": metadata,
        }
        if local:
            params.update(
                payment_behavior="allow_incomplete", expand=["latest_invoice.payment_intent"]
            )
        else:
            params.update(
                # With a card: charge now, stay incomplete if it needs 3-D Secure or fails.
                # Without: wait for the browser to confirm the first invoice.
                payment_behavior="allow_incomplete" if has_payment_method else "default_incomplete",
                payment_settings={"save_default_payment_method": "on_subscription"},
                expand=["latest_invoice.confirmation_secret"],
            )
        sub = self._call(
            lambda: self._api.subscriptions.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        )
        latest = sub.get("latest_invoice")
        invoice: dict[str, Any] = latest if isinstance(latest, dict) else {}
        intent = invoice.get("payment_intent")
        if not isinstance(intent, dict) and sub.get("status") == "incomplete" and invoice.get("id"):
            intent = self._invoice_payment_intent(invoice["id"])
        intent = intent if isinstance(intent, dict) else {}
        error = intent.get("last_payment_error") or {}
        secret = (invoice.get("confirmation_secret") or {}).get("client_secret") or intent.get(
            "client_secret"
        )
        return {
            "id": sub["id"],
            "status": sub.get("status"),
            "client_secret": secret,
            "payment_status": intent.get("status"),
            "error_code": error.get("decline_code") or error.get("code"),
            "error_message": error.get("message"),
        }

    def _invoice_payment_intent(self, invoice_id: str) -> dict[str, Any] | None:
        """The current API keeps payment intents behind invoice payments."""
        payments = self._call(
            lambda: self._api.invoice_payments.list(params={"invoice": invoice_id, "limit": 1})
        )
        for payment in payments.get("data") or []:
            intent_id = _id_of((payment.get("payment") or {}).get("payment_intent"))
            if intent_id:
                return self._call(partial(self._api.payment_intents.retrieve, intent_id))
        return None

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        return normalize_subscription(
            self._call(lambda: self._api.subscriptions.retrieve(subscription_id))
        )

    def cancel_subscription(self, subscription_id: str) -> dict[str, Any]:
        return normalize_subscription(
            self._call(lambda: self._api.subscriptions.cancel(subscription_id))
        )

    def list_subscriptions(self, customer_id: str) -> list[dict[str, Any]]:
        # Stripe's default filter leaves canceled ones out; a customer holds one or two.
        found = self._call(
            lambda: self._api.subscriptions.list(params={"customer": customer_id, "limit": 20})
        )
        subs = [normalize_subscription(sub) for sub in found.get("data") or []]
        return sorted(subs, key=lambda sub: sub.get("created") or 0, reverse=True)

    def create_checkout_session(
        self,
        *,
        customer_id: str,
        price_id: str,
        success_url: str,
        cancel_url: str,
        client_reference_id: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> dict[str, Any]:
        params = {
            "mode": "subscription",
            "customer": customer_id,
            "line_items": [{"price": price_id, "quantity": 1}],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": client_reference_id,
            "metadata": metadata,
            "subscription_data": {"metadata": metadata},
        }
        return self._call(
            lambda: self._sessions_api.checkout.sessions.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        )

    def create_portal_session(self, *, customer_id: str, return_url: str) -> dict[str, Any]:
        return self._call(
            lambda: self._sessions_api.billing_portal.sessions.create(
                params={"customer": customer_id, "return_url": return_url}
            )
        )

    def list_invoices(self, customer_id: str, limit: int) -> list[dict[str, Any]]:
        found = self._call(
            lambda: self._api.invoices.list(params={"customer": customer_id, "limit": limit})
        )
        invoices = [normalize_invoice(invoice) for invoice in found.get("data") or []]
        return sorted(invoices, key=lambda invoice: invoice.get("created") or 0, reverse=True)
