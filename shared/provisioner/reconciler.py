"""The reconciler: read a workspace's desired state, look at the cluster, converge (principle 1).

A message only names the workspace. Each invocation:

1. claims the workspace in one transaction — drops the message if it is stale (older generation),
   a duplicate (this generation already settled) or the workspace is being converged by a live
   lease holder (which re-reads the desired state before it lets go, so it takes this change too);
2. converges step by step, each step safe to repeat: create, and on AlreadyExists read the object
   and adopt it only if its labels say it is this workspace's (otherwise fail with the reason);
   404 on delete is done; a Terminating namespace is waited out, never written into;
3. for a start, waits for the pod by watching it (and its events, for progress), failing fast on
   ImagePullBackOff, CrashLoopBackOff and repeated FailedMount, tolerating FailedScheduling until
   the start deadline; on failure the compute is removed and the status says why;
4. records the outcome and releases the lease in one transaction, unless the desired state
   changed meanwhile, in which case it converges again.

Errors a retry can fix raise :class:`TemporaryError` (Pub/Sub redelivers with backoff); permanent
ones are recorded on the workspace and the message is acknowledged.
"""

from __future__ import annotations

from shared.provisioner.converge import Converger
from shared.provisioner.readiness import Readiness
from shared.provisioner.triage import Triage


class Reconciler(Triage, Converger, Readiness):
    """Triage and leases (triage.py), converging (converge.py), readiness (readiness.py)."""
