"""Cloud Function ``llm``: /api/llm/usage. (The gateway at /api/llm/v1 is ``python -m shared.llm``
on Cloud Run: see docs/llm.md.)"""

from typing import Any

import functions_framework
from werkzeug.exceptions import HTTPException


@functions_framework.http
def llm(request: Any) -> Any:
    from shared.api.llm import handle  # imported on first request: keeps cold start small

    return handle(request)


@functions_framework.errorhandler(HTTPException)
def framework_error(error: HTTPException) -> Any:
    from shared.web import framework_error as json_error  # the contract's shape, not HTML

    return json_error(error)
