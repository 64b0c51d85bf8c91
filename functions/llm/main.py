"""Cloud Function ``llm``: /api/llm/usage. (The gateway at /api/llm/v1 is ``python -m shared.llm``
on Cloud Run: see docs/llm.md.)"""

from typing import Any

import functions_framework


@functions_framework.http
def llm(request: Any) -> Any:
    from shared.api.llm import handle  # imported on first request: keeps cold start small

    return handle(request)
