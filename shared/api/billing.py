"""The billing function: Checkout and Billing Portal sessions, invoices, and the public plan
catalog."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.claims import Claims
from shared.plans import CATALOG
from shared.web import Reply, Router, bearer_token, read_json
from shared.wiring import services

router = Router("billing")


class CheckoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built on first use
    plan: Literal["starter", "pro"]


def _claims(request: Any) -> Claims:
    return services().accounts.authenticate(bearer_token(request))


@router.route(
    "POST",
    "/api/billing/checkout",
    summary="A Stripe Checkout URL for a paid plan",
    body=CheckoutRequest,
    responses={200: "Url"},
    errors=(409, 502, 503),
    auth="bearer",
)
def checkout(request: Any) -> Reply:
    claims = _claims(request)  # the token first: a stranger learns nothing from body errors
    body = read_json(request, CheckoutRequest)
    return Reply(200, {"url": services().billing.checkout_url(claims, body.plan)})


@router.route(
    "POST",
    "/api/billing/portal",
    summary="A Stripe billing portal URL",
    responses={200: "Url"},
    errors=(409, 422, 502, 503),
    auth="bearer",
)
def portal(request: Any) -> Reply:
    claims = _claims(request)
    return Reply(200, {"url": services().billing.portal_url(claims)})


@router.route(
    "GET",
    "/api/billing/invoices",
    summary="The subscription, past invoices and the next one",
    responses={200: "BillingSummary"},
    errors=(502, 503),
    auth="bearer",
)
def invoices(request: Any) -> Reply:
    from shared.billing.invoices import billing_summary

    claims = _claims(request)
    return Reply(200, billing_summary(services().billing, claims), {"Cache-Control": "no-store"})


@router.route("GET", "/api/plans", summary="The plan catalog", responses={200: "PlanCatalog"})
def plans(request: Any) -> Reply:
    # Public and the same for everyone: the landing page's pricing cards read it.
    body = {"currency": "usd", "plans": [plan.public() for plan in CATALOG.values()]}
    return Reply(200, body, {"Cache-Control": "public, max-age=300"})


def handle(request: Any) -> Any:
    return router(request)
