"""The provisioner's pod spec runs this sidecar: its environment is a valid configuration that
matches the container's ports, probes and the platform's routes, and the image's uid is the pod's.

Read-only checks of ``shared/provisioner/objects.py`` (owned by the workspaces area) against the
sidecar's own config parser and ``sidecar/Dockerfile``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from shared.provisioner import objects
from shared.workspaces.config import WorkspaceSettings
from sidecar.config import Config

from .test_process import ROOT

PUBLIC_URL = "https://app.coditect.test"
WS = {
    "workspace_id": "ws-abc",
    "user_id": "user-1",
    "tenant_id": "tenant-1",
    "plan": "free",
    "disk_gb": 5,
}


def pod_and_service() -> tuple[dict[str, Any], dict[str, Any]]:
    made = objects.workspace_objects(
        WS,
        WorkspaceSettings(),
        activity_token="credential",
        public_url=PUBLIC_URL,
        issuer=PUBLIC_URL,
        theia_settings={"ai-features.chat.defaultChatAgent": "Coditect"},
    )
    by_kind = {obj["kind"]: obj for obj in made}
    return by_kind["Pod"], by_kind["Service"]


def sidecar_container(pod: dict[str, Any]) -> dict[str, Any]:
    (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "sidecar"]
    return container


def test_pod_environment_is_a_valid_sidecar_configuration(tmp_path: Path) -> None:
    pod, _ = pod_and_service()
    container = sidecar_container(pod)
    env = {item["name"]: item["value"] for item in container["env"]}

    # The credential comes as a file inside the mounted Secret, under the Secret's key.
    token_path = env["ACTIVITY_TOKEN_FILE"]
    (mount,) = [m for m in container["volumeMounts"] if token_path.startswith(m["mountPath"])]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == mount["name"]]
    assert "secret" in volume
    assert token_path == f"{mount['mountPath']}/{objects.ACTIVITY_TOKEN_KEY}"
    assert "ACTIVITY_TOKEN" not in env  # never as a plain variable

    local = tmp_path / "activity-token"
    local.write_text("credential")
    cfg = Config.from_env({**env, "ACTIVITY_TOKEN_FILE": str(local)})

    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert cfg.listen_port == ports["http"]
    assert cfg.metrics_port == ports["metrics"]
    (theia,) = [c for c in pod["spec"]["containers"] if c["name"] == "theia"]
    assert (cfg.upstream_host, cfg.upstream_port) == (
        "127.0.0.1",
        theia["ports"][0]["containerPort"],
    )
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": cfg.listen_port}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": cfg.listen_port}

    # Identity and the platform's endpoints: the audience the launch endpoint issues, the JWKS
    # and the activity route of the workspaces function.
    assert (cfg.workspace_id, cfg.user_id, cfg.tenant_id) == ("ws-abc", "user-1", "tenant-1")
    assert cfg.audience == "workspace:ws-abc"
    assert cfg.token_issuer == PUBLIC_URL
    assert cfg.jwks_url == f"{PUBLIC_URL}/.well-known/jwks.json"
    assert cfg.activity_url == f"{PUBLIC_URL}/api/workspaces/ws-abc/activity"

    # SIGTERM: the grace period, the 1001 close of remaining sockets (up to 3 s) and the
    # runner's own shutdown fit inside the pod's termination grace period.
    assert cfg.shutdown_grace_seconds + 3 + 1 < pod["spec"]["terminationGracePeriodSeconds"]


def test_metrics_port_not_exposed_by_the_service() -> None:
    pod, service = pod_and_service()
    container = sidecar_container(pod)
    exposed = {p["targetPort"] for p in service["spec"]["ports"]}
    assert exposed == {"http"}
    assert {p["name"] for p in container["ports"]} == {"http", "metrics"}


def test_dockerfile_matches_the_pod() -> None:
    dockerfile = (ROOT / "sidecar" / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", dockerfile, re.M)
    assert base is not None
    # Slim, and pinned to an exact Python patch release (never a floating tag).
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base.group(1))
    user = re.findall(r"^USER (\d+):(\d+)$", dockerfile, re.M)
    assert user == [(str(objects.UID), str(objects.UID))]
    pod, _ = pod_and_service()
    security = pod["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == security["runAsGroup"] == objects.UID
    assert sidecar_container(pod)["securityContext"]["readOnlyRootFilesystem"] is True
    assert 'CMD ["python", "-m", "sidecar"]' in dockerfile
    # Only the sidecar's package and pinned requirements go into the image.
    assert re.findall(r"^COPY (\S+)", dockerfile, re.M) == ["sidecar/requirements.txt", "sidecar/"]
    for line in (ROOT / "sidecar" / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", line), line
