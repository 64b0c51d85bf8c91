"""Errors in OpenAI's shape: ``{"error": {"message", "type", "code", "param"}}``, right status."""

from __future__ import annotations

import json

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class LlmError(Exception):
    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    @property
    def type(self) -> str:
        return TYPES.get(self.status, "api_error")

    def body(self) -> dict[str, dict[str, str | None]]:
        return {
            "error": {"message": self.message, "type": self.type, "code": self.code, "param": None}
        }

    def sse(self) -> bytes:
        """The same error as a stream event: ends a stream the client already receives."""
        return f"data: {json.dumps(self.body())}\n\n".encode()
