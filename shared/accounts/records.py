"""The stored shapes of account records (values under ``t/<tid>/...``; docs/data-model.md)."""

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
    # Epoch seconds: sessions (refresh families, IDE sessions, access tokens minting launch
    # tokens) begun before this are over. Moved forward only (shared/accounts/sessions.py).
    sessions_valid_after: NotRequired[float]


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
    last_used_at: NotRequired[str]  # sign-in or latest refresh
    client: NotRequired[str]  # the User-Agent that signed in or refreshed last (200 chars)
    client_ip: NotRequired[str]


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


class PasswordResetRecord(TypedDict):
    """``t/<tid>/password_reset/<uid>``: the user's one outstanding reset link (its hash)."""

    token_sha256: str
    email: str
    created_at: str
    expires_at: float


class ApiTokenRecord(TypedDict):
    """``t/<tid>/api_token/<token_id>``: a personal API token (only its SHA-256 is stored)."""

    token_id: str
    user_id: str
    name: str
    scope: str  # read | workspaces | llm
    token_sha256: str
    prefix: str  # the first characters, shown to tell tokens apart
    created_at: str
    expires_at: float | None
    last_used_at: float | None
    revoked_at: NotRequired[str]


AuditFields = dict[str, Any]  # free-form, never secrets
