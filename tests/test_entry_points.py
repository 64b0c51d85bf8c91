"""Every Cloud Function entry point imports under production-like settings, and stays light.

Each runs in a fresh interpreter, as a cold start would: functions-framework loads
``functions/<name>/main.py`` and finds the entry point named like its folder. Heavy clients
must not be imported until first use.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENTRY_POINTS = sorted(
    os.path.basename(os.path.dirname(p))
    for p in glob.glob(os.path.join(ROOT, "functions", "*", "main.py"))
)
HEAVY = (
    "kubernetes",
    "google.cloud.pubsub_v1",
    "google.cloud.secretmanager",
    "stripe",
    "grpc",
    "authlib",
)

PRODUCTION_ENV = {
    "CODITECT_SECRETS": "gcp",
    "CODITECT_EVENTS": "pubsub",
    "GOOGLE_CLOUD_PROJECT": "coditect-prod",
    "FDB_CLUSTER_FILE": "/etc/foundationdb/fdb.cluster",
    "CODITECT_PUBLIC_URL": "https://app.coditect.example",
    "K_SERVICE": "entry-point-test",
}

PROBE = """
import json, sys, time
import functions_framework
name, source = sys.argv[1], sys.argv[2]
start = time.perf_counter()
app = functions_framework.create_app(name, source)
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "modules": sorted(sys.modules)}))
"""


def test_there_are_entry_points():
    assert "auth" in ENTRY_POINTS


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_entry_point_imports_in_production_settings(name: str):
    source = os.path.join(ROOT, "functions", name, "main.py")
    env = {**os.environ, **PRODUCTION_ENV, "PYTHONPATH": ROOT}
    env.pop("PUBSUB_EMULATOR_HOST", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, name, source],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    modules = set(json.loads(done.stdout.strip().splitlines()[-1])["modules"])
    heavy = [m for m in HEAVY if m in modules]
    assert not heavy, f"{name} imports {heavy} at cold start; import them on first use"
