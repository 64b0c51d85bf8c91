"""Workspaces: desired state in the store, converged by the provisioner (see docs/workspaces.md).

Modules: ``model`` (records, keys, indexes), ``service`` (the API's operations, and the
``stop_over_limit``/``publish_reconcile`` pair billing calls), ``idle`` (the scheduled pass),
``hours`` (monthly hours), ``config`` (settings). Nothing is re-exported here.
"""
