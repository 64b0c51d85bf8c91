"""Cloud Function ``provisioner``: triggered by Pub/Sub topic ``workspace-reconcile``."""

from typing import Any

import functions_framework


@functions_framework.cloud_event
def provisioner(cloud_event: Any) -> None:
    from shared.api.provisioner import handle  # imported on first event: keeps cold start small

    handle(cloud_event)
