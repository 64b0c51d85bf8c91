"""The stored shapes of account records (values under ``t/<tid>/...``; docs/data-model.md)."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class TenantRecord(TypedDict):
    tenant_id: str
    kind: str  # "personal"
    owner_user_id: str
    created_at: str


class UserRecord(TypedDict):
    user_id: str
    tenant_id: str
    email: str
    first_name: str | None
    last_name: str | None
    created_at: str
    requested_plan: str
    email_verified: NotRequired[bool]
    email_verified_at: NotRequired[str]


class CredentialRecord(TypedDict):
    password_hash: str
    updated_at: str


class UserIds(TypedDict):
    """What a global index holds for a user: ids only."""

    user_id: str
    tenant_id: str


class LicenseRecord(TypedDict, total=False):
    """The tenant's current license; billing adds its own fields (customer, subscription...)."""

    license_id: str
    plan: str
    status: str
    previous_license_id: str | None
    updated_at: str
    # Written by billing (shared/billing/licensing.py) for Stripe-backed licenses.
    grace_until: float | None
    stripe_customer_id: str | None
    stripe_subscription_id: str
    stripe_plan: str
    stripe_status: str | None
    stripe_event_created: int
    cancel_at_period_end: bool


class RefreshFamily(TypedDict):
    family_id: str
    user_id: str
    current_jti: str
    revoked: bool
    method: str
    created_at: str
    expires_at: int
    revoked_reason: NotRequired[str]
    revoked_at: NotRequired[str]
    rotated_at: NotRequired[str]


class IdentityRecord(TypedDict):
    provider: str
    subject: str
    user_id: str
    email: str
    linked_at: str


class EmailVerificationRecord(TypedDict):
    token_sha256: str
    email: str
    created_at: str
    expires_at: float
    resent_at: list[float]


AuditFields = dict[str, Any]  # free-form, never secrets
