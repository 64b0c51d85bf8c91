"""The provisioner: pure manifest builders, DNS-safe names, and the reconciler that drives
Kubernetes toward each workspace's desired state (see docs/workspaces.md)."""
