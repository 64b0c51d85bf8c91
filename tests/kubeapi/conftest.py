"""Fixtures for the Kubernetes API stand-in tests (the logic lives in devstack.kubeapi.testing)."""

from __future__ import annotations

import sys
from pathlib import Path

# Make `devstack` importable when pytest is run as `pytest` (not `python -m pytest`) from the repo.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from devstack.kubeapi.testing import kube, kube_session  # noqa: E402

__all__ = ["kube", "kube_session"]
