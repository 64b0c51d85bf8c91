"""Workspaces: desired state in the store, converged by the provisioner (see docs/workspaces.md).

Billing uses :func:`stop_over_limit` (in its own transaction) and then :func:`publish_reconcile`
for each id it returns, after the commit.
"""

from shared.workspaces.service import publish_reconcile, stop_over_limit

__all__ = ["publish_reconcile", "stop_over_limit"]
