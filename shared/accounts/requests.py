"""Request bodies of the account endpoints (validated before anything is written)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared import passwords

# Each schema is built on its first request, not at import: an instance pays only for the
# bodies it is sent (cold start).
BODY = ConfigDict(extra="forbid", defer_build=True)


class RegisterRequest(BaseModel):
    model_config = BODY
    email: str = Field(max_length=320)
    password: str = Field(max_length=passwords.MAX_LENGTH)
    plan: Literal["free", "starter", "pro"] = "free"
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    payment_method_id: str | None = Field(default=None, max_length=255)


class LoginRequest(BaseModel):
    model_config = BODY
    email: str = Field(max_length=320)
    password: str = Field(max_length=passwords.MAX_LENGTH)


class RefreshRequest(BaseModel):
    model_config = BODY
    refresh_token: str = Field(min_length=1, max_length=4096)


class VerifyEmailRequest(BaseModel):
    model_config = BODY
    token: str = Field(min_length=1, max_length=256)


class PasswordResetRequest(BaseModel):
    model_config = BODY
    email: str = Field(max_length=320)


class PasswordResetConfirm(BaseModel):
    model_config = BODY
    token: str = Field(min_length=1, max_length=256)
    new_password: str = Field(max_length=passwords.MAX_LENGTH)


class PasswordChangeRequest(BaseModel):
    model_config = BODY
    current_password: str = Field(max_length=passwords.MAX_LENGTH)
    new_password: str = Field(max_length=passwords.MAX_LENGTH)


class PasswordSetRequest(BaseModel):
    model_config = BODY
    new_password: str = Field(max_length=passwords.MAX_LENGTH)


class CreateApiTokenRequest(BaseModel):
    model_config = BODY
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    scope: Literal["read", "workspaces", "llm"]
    # Days until it stops working; null for a token that never expires.
    expires_in_days: int | None = Field(default=90, ge=1, le=366)


class DeleteAccountRequest(BaseModel):
    model_config = BODY
    # Required for an account with a password; provider-only accounts confirm with a sign-in
    # less than five minutes old instead.
    password: str | None = Field(default=None, max_length=passwords.MAX_LENGTH)


class ProfileUpdate(BaseModel):
    """PATCH: only the fields sent change; an empty or blank name clears it."""

    model_config = BODY
    first_name: str | None = Field(default=None, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")
    last_name: str | None = Field(default=None, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")
