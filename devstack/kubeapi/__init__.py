"""Kubernetes API stand-in for tests and the local dev stack (see docs/kube-standin.md)."""

from .cluster import FAULT_ANNOTATION, FAULT_MODES, READY_DELAY_ANNOTATION, FaultRule
from .server import KubeStandin

__all__ = ["FAULT_ANNOTATION", "FAULT_MODES", "READY_DELAY_ANNOTATION", "FaultRule", "KubeStandin"]
