"""Kubernetes API stand-in for tests and the local dev stack (see docs/kube-standin.md)."""

from .faults import FAULT_MODES, FaultRule
from .meta import FAULT_ANNOTATION, READY_DELAY_ANNOTATION
from .server import KubeStandin

__all__ = ["FAULT_ANNOTATION", "FAULT_MODES", "READY_DELAY_ANNOTATION", "FaultRule", "KubeStandin"]
