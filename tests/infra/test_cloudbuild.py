"""cloudbuild.yaml offline: Cloud Build would accept it, and it runs every stage of the pipeline."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import pytest
import yaml

from tests.infra.conftest import ROOT

# https://cloud.google.com/build/docs/configuring-builds/substitute-variable-values
BUILT_INS = {
    "PROJECT_ID",
    "PROJECT_NUMBER",
    "BUILD_ID",
    "LOCATION",
    "TRIGGER_NAME",
    "COMMIT_SHA",
    "REVISION_ID",
    "SHORT_SHA",
    "REPO_NAME",
    "REPO_FULL_NAME",
    "BRANCH_NAME",
    "TAG_NAME",
    "REF_NAME",
    "TRIGGER_BUILD_CONFIG_PATH",
    "SERVICE_ACCOUNT_EMAIL",
    "SERVICE_ACCOUNT",
}
# $$ is a literal dollar; ${NAME...} and $NAME are substitutions; "$(" is the shell's.
REFERENCE = re.compile(r"\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))")


@pytest.fixture(scope="module")
def build() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    return []


def step(build: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in build["steps"] if s["id"] == step_id)


def script(build: dict[str, Any], step_id: str) -> str:
    return "\n".join(strings(step(build, step_id).get("args", [])))


def test_every_dollar_is_a_known_substitution_or_escaped(build: dict) -> None:
    # Cloud Build rejects the whole build on "$name" it does not know (a shell variable written
    # with one dollar), before any step runs.
    declared = set(build["substitutions"])
    assert all(name.startswith("_") for name in declared)
    for s in build["steps"]:
        for text in strings(s):
            for match in REFERENCE.finditer(text):
                if match.group(1) == "$":
                    continue
                name = match.group(2) or match.group(3)
                assert name in declared or name in BUILT_INS, (s["id"], match.group(0))


def test_steps_wait_for_steps_that_exist(build: dict) -> None:
    ids = [s["id"] for s in build["steps"]]
    assert len(ids) == len(set(ids))
    for s in build["steps"]:
        for dep in s.get("waitFor", []):
            assert dep == "-" or dep in ids[: ids.index(s["id"])], (s["id"], dep)


def test_the_pipeline_has_every_stage(build: dict) -> None:
    assert "ruff check" in script(build, "lint") and "ruff format --check" in script(build, "lint")
    assert "pytest" in script(build, "unit-tests")
    assert step(build, "terraform-fmt")["args"][:3] == ["fmt", "-check", "-recursive"]

    contract = script(build, "contract-tests")
    assert "foundationdb/foundationdb:${_FDB_VERSION}" in contract
    assert "google-cloud-cli:emulators" in contract and "emulators pubsub start" in contract
    assert "FDB_CLUSTER_FILE=" in contract and "PUBSUB_EMULATOR_HOST=pubsub:8085" in contract
    assert "tests/store/test_contract.py" in contract
    assert "tests/events/test_events_contract.py" in contract
    assert "SKIPPED" in contract  # a contract test that skips fails the build

    image = "${_REGION}-docker.pkg.dev/${PROJECT_ID}/coditect/sidecar:${SHORT_SHA}"
    assert image in step(build, "sidecar-image")["args"]
    assert image in script(build, "sidecar-push")

    assert "functions/bundle.py" in script(build, "bundles")
    assert "--fdb-version ${_FDB_VERSION}" in script(build, "bundles")
    assert "--skip-library-check" not in script(build, "bundles")

    plan = step(build, "terraform-plan")
    # One root; the environment picks the variable file and the state prefix.
    assert plan["dir"] == "terraform/root"
    assert step(build, "terraform-apply")["dir"] == "terraform/root"
    assert build["substitutions"]["_ENV"] == "staging"
    assert "-var-file=../environments/${_ENV}.tfvars" in script(build, "terraform-plan")
    assert "-backend-config=prefix=coditect/${_ENV}" in script(build, "terraform-plan")
    assert "terraform plan" in script(build, "terraform-plan")
    assert "function_sources.tfvars.json" in script(build, "terraform-plan")
    assert "-var=sidecar_image=" + image in script(build, "terraform-plan")

    apply = script(build, "terraform-apply")
    gate = 'if [ "${BRANCH_NAME}" != "main" ]'
    assert apply.index(gate) < apply.index("terraform apply -input=false /workspace/build/tfplan")

    smoke = step(build, "smoke-test")
    assert smoke["waitFor"] == ["sync-cluster-file", "web-upload"]
    assert "https://${_DOMAIN}" in script(build, "smoke-test")


def test_the_ide_image_is_built_and_pushed_like_the_sidecar(build: dict) -> None:
    image = "${_REGION}-docker.pkg.dev/${PROJECT_ID}/coditect/ide:${SHORT_SHA}"
    built = step(build, "ide-image")
    assert built["args"][:3] == ["build", "-f", "ide/Dockerfile"] and image in built["args"]
    assert built["args"][-1] == "."  # the repository root is the build context
    push = script(build, "ide-push")
    assert image in push and "docker push" in push
    assert script(build, "ide-push").replace("/ide:", "/sidecar:") == script(build, "sidecar-push")


def test_the_web_app_is_checked_and_built_before_anything_deploys(build: dict) -> None:
    web = step(build, "web")
    assert web["name"] == "${_NODE_IMAGE}" and build["substitutions"]["_NODE_IMAGE"].startswith(
        "node:20"
    )
    assert web["dir"] == "web" and web["waitFor"] == ["-"]
    commands = [line.strip() for line in script(build, "web").splitlines() if line.strip()]
    # The same checks `make test` runs, in the order that fails fastest, then the build.
    assert commands[-5:] == [
        "npm ci --ignore-scripts --no-audit --no-fund",
        "npm run typecheck",
        "npm run lint",
        "npm test",
        "npm run build",
    ]
    package = json.loads((ROOT / "web" / "package.json").read_text())
    for name in ("typecheck", "lint", "test", "build"):
        assert name in package["scripts"], name
    assert package["scripts"]["test"].startswith("vitest run")
    # A failing app stops the plan, so nothing is applied with it.
    assert "web" in step(build, "terraform-plan")["waitFor"]


def upload_commands(build: dict) -> list[list[str]]:
    """web-upload's gcloud commands, split as bash would (line continuations joined)."""
    text = script(build, "web-upload").replace("\\\n", " ")
    return [shlex.split(line) for line in text.splitlines() if line.strip().startswith("gcloud")]


def flag(command: list[str], name: str) -> str:
    return next(arg.split("=", 1)[1] for arg in command if arg.startswith(name + "="))


def test_the_web_app_is_uploaded_after_the_apply_with_its_cache_rules(build: dict) -> None:
    upload = step(build, "web-upload")
    assert upload["waitFor"] == ["terraform-apply"]
    text = script(build, "web-upload")
    gate = 'if [ "${BRANCH_NAME}" != "main" ] || [ -n "${_TF_TARGETS}" ]'
    assert text.index(gate) < text.index("gcloud")
    # The bucket Terraform makes (modules/edge/app.tf names it after the project).
    assert "bucket=gs://${PROJECT_ID}-web" in text
    assets, others, index = upload_commands(build)
    # Hashed names: a year, immutable; uploaded first.
    assert assets[:3] == ["gcloud", "storage", "rsync"]
    assert assets[3:5] == ["web/dist/assets", "$$bucket/assets"] and "--recursive" in assets
    assert flag(assets, "--cache-control") == "public, max-age=31536000, immutable"
    # Anything else at the top level: revalidated; never index.html or the local build stamp.
    assert others[3:5] == ["web/dist", "$$bucket"]
    exclude = re.compile(flag(others, "--exclude").replace("$$", "$"))
    for name in ("assets/index-abc123.js", "index.html", ".build-stamp"):
        assert exclude.search(name), name
    assert not exclude.search("favicon.svg")
    assert flag(others, "--cache-control") == "no-cache"
    # index.html last, never cached without revalidation.
    assert index[:5] == ["gcloud", "storage", "cp", "web/dist/index.html", "$$bucket/index.html"]
    assert flag(index, "--cache-control") == "no-cache"
    assert flag(index, "--content-type").startswith("text/html")
    # No deletion: a page loaded before the deploy still finds its assets.
    assert "--delete-unmatched-destination-objects" not in text


def test_the_smoke_test_loads_the_app_with_its_headers(build: dict) -> None:
    smoke = script(build, "smoke-test")
    for path in ('"/"', '"/dashboard"'):
        assert path in smoke
    for header in (
        "Content-Security-Policy",
        "Strict-Transport-Security",
        "X-Content-Type-Options",
    ):
        assert header in smoke
    assert "/assets/" in smoke and "immutable" in smoke


def test_the_llm_gateway_image_is_built_and_pushed_like_the_sidecar(build: dict) -> None:
    image = "${_REGION}-docker.pkg.dev/${PROJECT_ID}/coditect/llm-gateway:${SHORT_SHA}"
    built = step(build, "llm-gateway-image")
    assert built["args"][:3] == ["build", "-f", "shared/llm/Dockerfile"] and image in built["args"]
    assert "libfdb-c" in built["waitFor"]  # the image carries the cluster's client library
    push = script(build, "llm-gateway-push")
    assert push.replace("/llm-gateway:", "/sidecar:") == script(build, "sidecar-push")
    plan = script(build, "terraform-plan")
    assert f"-var=llm_gateway_image={image}" in plan
    assert "llm-gateway-push" in step(build, "terraform-plan")["waitFor"]
