"""A sign-in that cannot finish: the browser is sent back to the app with ``code``."""

from __future__ import annotations


class OAuthFailure(Exception):
    """``code`` is a readable snake_case reason shown to the app; ``detail`` goes to logs only."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
