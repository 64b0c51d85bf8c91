"""Response bodies of the public API as pydantic models, for the OpenAPI document.

Handlers still build plain dicts (no per-request validation cost); these models say what those
dicts are, and the contract tests and the fuzzing run check every answer against them. Models
are ``defer_build``: nothing is compiled until the document is asked for (cold start).
Fields a newer server may add are allowed (no ``additionalProperties: false``), so clients
written against this document keep working when the API grows.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.workspaces.model import DESIRED, STATUSES

LAZY = ConfigDict(defer_build=True)
PlanName = Literal["free", "starter", "pro"]


class ErrorDetail(BaseModel):
    model_config = LAZY
    code: str = Field(description="snake_case, stable: what clients branch on")
    message: str = Field(description="for people; may change")


class ErrorResponse(BaseModel):
    """Every refusal: ``{"error": {"code", "message"}}``."""

    model_config = LAZY
    error: ErrorDetail


# -- accounts -------------------------------------------------------------------------------------
class User(BaseModel):
    model_config = LAZY
    user_id: str
    tenant_id: str
    email: str
    first_name: str | None
    last_name: str | None
    created_at: str = Field(description="ISO 8601, UTC")
    email_verified: bool
    identities: list[str] | None = Field(
        default=None, description="linked sign-in providers (only where they were read)"
    )


class Tokens(BaseModel):
    model_config = LAZY
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="seconds the access token lives")


class SignedIn(Tokens):
    user: User


class RetryHint(BaseModel):
    model_config = LAZY
    method: str
    path: str
    body: dict[str, Any]


class SignupSubscription(BaseModel):
    """The Stripe step of a paid sign-up. The account exists on free either way; the plan turns
    paid when Stripe confirms (webhook). ``failed`` carries ``reason`` and how to retry."""

    model_config = LAZY
    id: str | None
    status: str = Field(description="Stripe's subscription status, or `failed`")
    client_secret: str | None
    plan: PlanName
    reason: str | None = None
    message: str | None = None
    retry: RetryHint | None = None


class Registered(SignedIn):
    subscription: SignupSubscription | None = Field(
        description="null for a free sign-up; the paid plan's Stripe step otherwise"
    )


class OAuthSignedIn(SignedIn):
    sign_in: dict[str, str]


class UserEnvelope(BaseModel):
    model_config = LAZY
    user: User


class PlanLimits(BaseModel):
    model_config = LAZY
    llm_requests_per_month: int
    storage_gb: int
    workspace_hours_per_month: int
    running_workspaces: int


class License(BaseModel):
    model_config = LAZY
    plan: str | None
    status: str | None
    updated_at: str | None = None


class Usage(BaseModel):
    """This month's counters (names as recorded, each an integer)."""

    model_config = ConfigDict(defer_build=True, extra="allow")
    period: str = Field(description="YYYY-MM")


class Me(BaseModel):
    model_config = LAZY
    user: User
    plan: PlanName = Field(description="the plan whose limits apply now")
    license: License
    limits: PlanLimits
    usage: Usage


class Jwk(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="allow")
    kid: str
    kty: str


class Jwks(BaseModel):
    model_config = LAZY
    keys: list[Jwk]


# -- billing --------------------------------------------------------------------------------------
class Url(BaseModel):
    model_config = LAZY
    url: str


class Plan(BaseModel):
    model_config = LAZY
    name: PlanName
    price_usd_per_month: int
    limits: PlanLimits


class PlanCatalog(BaseModel):
    model_config = LAZY
    currency: Literal["usd"]
    plans: list[Plan]


class WebhookAck(BaseModel):
    model_config = LAZY
    received: bool
    outcome: str


# -- workspaces -----------------------------------------------------------------------------------
class Progress(BaseModel):
    model_config = LAZY
    at: str
    message: str


class Workspace(BaseModel):
    model_config = LAZY
    workspace_id: str
    name: str
    status: Literal[STATUSES]  # type: ignore[valid-type]
    desired_state: Literal[DESIRED]  # type: ignore[valid-type]
    url: str | None = Field(description="set while ready: the IDE's own site")
    created_at: str
    last_active: str | None
    disk_gb: int
    progress: list[Progress]
    reason: str | None = Field(default=None, description="why it failed or was stopped")
    delete_after: str | None = Field(
        default=None, description="a stopped workspace's storage goes after this time"
    )


class WorkspaceEnvelope(BaseModel):
    model_config = LAZY
    workspace: Workspace


class WorkspaceList(BaseModel):
    model_config = LAZY
    workspaces: list[Workspace]


class WorkspaceToken(BaseModel):
    model_config = LAZY
    token: str
    token_type: Literal["Bearer"]
    expires_in: int
    url: str | None


# -- the stack ------------------------------------------------------------------------------------
class Health(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="allow")
    status: str


class OpenApiDocument(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="allow")
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


# -- account self-service -------------------------------------------------------------------------
class Accepted(BaseModel):
    model_config = LAZY
    status: str


class Session(BaseModel):
    model_config = LAZY
    session_id: str
    method: str
    created_at: str
    last_used_at: str
    client: str
    client_ip: str
    expires_at: str
    current: bool = Field(description="the session this request's token belongs to")


class SessionList(BaseModel):
    model_config = LAZY
    sessions: list[Session]


class Connection(BaseModel):
    model_config = LAZY
    provider: str
    subject: str
    email: str | None
    linked_at: str


class ConnectionList(BaseModel):
    model_config = LAZY
    connections: list[Connection]
    has_password: bool


class ApiToken(BaseModel):
    model_config = LAZY
    token_id: str
    name: str
    scope: Literal["read", "workspaces", "llm"]
    prefix: str
    created_at: str
    expires_at: str | None
    last_used_at: str | None


class ApiTokenCreated(BaseModel):
    model_config = LAZY
    token: ApiToken
    secret: str = Field(description="cdt_pat_...: shown this once only; send as a bearer token")


class ApiTokenList(BaseModel):
    model_config = LAZY
    tokens: list[ApiToken]


class AccountExport(BaseModel):
    """Everything the account holds, as a download; sections may grow."""

    model_config = LAZY
    exported_at: str
    user: User
    has_password: bool
    connected_accounts: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    api_tokens: list[ApiToken]
    license: dict[str, Any] | None
    license_history: list[dict[str, Any]]


# -- billing page ---------------------------------------------------------------------------------
class BillingSubscription(BaseModel):
    model_config = LAZY
    plan: str
    status: str
    grace_until: str | None = Field(description="past_due: the paid limits hold until then")
    cancel_at_period_end: bool


class Invoice(BaseModel):
    model_config = LAZY
    id: str
    number: str | None
    status: str | None
    currency: str
    amount_due: int = Field(description="cents")
    amount_paid: int = Field(description="cents")
    created: str | None
    period_start: str | None
    period_end: str | None
    hosted_invoice_url: str | None


class NextInvoice(BaseModel):
    model_config = LAZY
    date: str | None
    amount_due: int = Field(description="cents")
    currency: str
    plan: PlanName


class BillingSummary(BaseModel):
    model_config = LAZY
    subscription: BillingSubscription
    invoices: list[Invoice]
    next_invoice: NextInvoice | None


# -- LLM usage ------------------------------------------------------------------------------------
class LlmTotals(BaseModel):
    model_config = LAZY
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


class LlmModelTotals(LlmTotals):
    model: str


class LlmDayTotals(LlmTotals):
    day: str


class LlmUsageRow(LlmTotals):
    day: str
    model: str
    user_id: str


class LlmUsage(BaseModel):
    model_config = LAZY
    period: str = Field(description="YYYY-MM")
    plan: PlanName
    limit: int
    used: int
    remaining: int | None = Field(description="this month only")
    resets_at: str | None = Field(description="this month only")
    by_model: list[LlmModelTotals]
    by_day: list[LlmDayTotals]
    rows: list[LlmUsageRow]
