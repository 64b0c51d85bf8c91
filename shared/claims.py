"""The claims of a verified token: what a request's caller is. Its own module so the code that
reads claims does not import the token machinery (PyJWT, cryptography) with them (cold start)."""

from typing import NotRequired, TypedDict


class Claims(TypedDict):
    """A verified token's claims (every token the platform issues carries these)."""

    iss: str
    aud: str
    sub: str  # user id
    tid: str  # tenant id: the only source of a request's tenant
    typ: str  # access, refresh, launch, workspace
    iat: int
    exp: int
    jti: str
    fam: NotRequired[str]  # refresh and access tokens: the family (one per sign-in)
    scope: NotRequired[str]  # personal API tokens only: read, workspaces or llm
