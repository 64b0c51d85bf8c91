"""One settings mechanism: every variable validated at start-up, documented from the code."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from shared.envconfig import SettingsError
from shared.settings import Settings, environment_table, environment_variables

ROOT = Path(__file__).resolve().parents[1]


def test_the_environment_table_in_the_docs_is_current() -> None:
    from devstack.settings import DevstackSettings

    documented = (ROOT / "docs" / "environment.md").read_text()
    expected = environment_table([DevstackSettings])
    assert documented == expected, "run: python -m devstack.settings > docs/environment.md"


def test_every_variable_is_documented_once_with_a_meaning() -> None:
    rows = environment_variables()
    names = [name for name, *_ in rows]
    assert len(names) == len(set(names)), "a variable is read by two settings"
    assert all(meaning for _, _, meaning, _ in rows)
    for expected in ("KUBECONFIG", "WORKSPACE_EGRESS_DENY_CIDRS", "CODITECT_MAIL", "K_SERVICE"):
        assert expected in names


def test_every_section_is_read_from_the_same_environment() -> None:
    settings = Settings.from_env(
        {
            "CODITECT_PUBLIC_URL": "https://coditect.example",
            "WORKSPACE_DOMAIN": "ws.example",
            "WORKSPACE_IDLE_SECONDS_PRO": "600",
            "CODITECT_STRIPE_PRICE_PRO": "price_new, price_old",
            "CODITECT_BILLING_GRACE_DAYS": "0.5",
            "CODITECT_OAUTH_STATE_SECONDS": "300",
            "CODITECT_MAIL": "smtp",
            "CODITECT_SMTP_HOST": "smtp.example",
            "KUBECONFIG": "/etc/kube/config",
            "CODITECT_MAX_BODY_BYTES": "1024",
        }
    )
    assert settings.issuer == "https://coditect.example"
    assert settings.workspaces.domain == "ws.example"
    assert settings.workspaces.idle_for("pro") == 600
    assert settings.billing.prices["pro"] == ("price_new", "price_old")
    assert settings.billing.grace_seconds == 43200
    assert settings.oauth.state_seconds == 300
    assert settings.mail.smtp_host == "smtp.example"
    assert settings.kubeconfig == "/etc/kube/config"
    assert settings.max_body_bytes == 1024
    # Empty means unset: the default applies.
    assert Settings.from_env({"CODITECT_MAX_BODY_BYTES": ""}).max_body_bytes == 64 * 1024


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CODITECT_ACCESS_TOKEN_SECONDS", "soon"),
        ("CODITECT_SECRETS", "vault"),
        ("WORKSPACE_EGRESS_DENY_CIDRS", "10.0.0.0/33"),
        ("WORKSPACE_IDLE_SECONDS", "-5"),
        ("PROVISIONER_BUDGET_SECONDS", "a while"),
        ("CODITECT_STRIPE_FLAVOR", "paypal"),
        ("CODITECT_SMTP_PORT", "twenty"),
        ("CODITECT_OAUTH_LEEWAY_SECONDS", "-1"),
        ("WORKSPACE_IDLE_SECONDS_PRO", "-5"),
        ("CODITECT_LLM_KEY_CACHE_SECONDS", "-1"),
        ("CODITECT_BILLING_GRACE_DAYS", "a week"),
    ],
)
def test_a_malformed_variable_fails_with_its_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_a_function_fails_at_start_up_not_on_a_request(tmp_path: Path) -> None:
    """The process's services() reads every section at once: a bad CIDR stops the first
    request of any function, not only the provisioner's, and names the variable."""
    code = "from shared.wiring import services; services()"
    env = {
        "PATH": "/usr/bin:/bin",
        "CODITECT_DATA_DIR": str(tmp_path),
        "WORKSPACE_EGRESS_DENY_CIDRS": "10.0.0.0/33",
    }
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert run.returncode != 0
    assert "WORKSPACE_EGRESS_DENY_CIDRS" in run.stderr


def test_settings_stay_frozen_dataclasses() -> None:
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.public_url = "x"  # type: ignore[misc]
    assert dataclasses.replace(settings, public_url="https://x").issuer == "https://x"


def test_settings_built_in_code_are_held_to_the_same_rules() -> None:
    from shared.workspaces.config import WorkspaceSettings

    with pytest.raises(ValueError, match="WORKSPACE_IDLE_SECONDS"):
        WorkspaceSettings(idle_seconds=0)
    with pytest.raises(ValueError, match="WORKSPACE_EGRESS_DENY_CIDRS"):
        WorkspaceSettings(egress_deny_cidrs=("10.0.0.0/33",))
    # Normalised the same way as from the environment.
    built = WorkspaceSettings(egress_deny_cidrs=("10.1.2.3/8",))
    assert built.egress_deny_cidrs == ("10.0.0.0/8",)


def test_booleans_and_choices_are_read_strictly() -> None:
    from devstack.settings import DevstackSettings

    read = DevstackSettings.from_env({"CODITECT_WEB_BUILD": "0", "CODITECT_IDE": "placeholder"})
    assert read.web_build is False and read.ide == "placeholder"
    assert DevstackSettings.from_env({"CODITECT_WEB_BUILD": "yes"}).web_build is True
    with pytest.raises(SettingsError, match="CODITECT_WEB_BUILD"):
        DevstackSettings.from_env({"CODITECT_WEB_BUILD": "maybe"})
    with pytest.raises(SettingsError, match="CODITECT_IDE"):
        DevstackSettings.from_env({"CODITECT_IDE": "vscode"})


def test_reading_settings_imports_no_validation_library() -> None:
    """Every function reads every setting on its first request: that stays cheap (no pydantic
    schema builds; bench/auth_bench.py measures the import)."""
    code = (
        "import sys; from shared.settings import Settings; Settings.from_env({}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'jwt')))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == "[]"
