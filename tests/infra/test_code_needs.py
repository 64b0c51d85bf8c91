"""Terraform against what the deployed code reads: secrets (names and per-function grants) and
environment variables (every name Terraform sets is read; every name production needs is set).

What each function reaches is worked out from the code itself: the imports of its entry point,
followed through ``shared/`` (lazy imports inside functions included).
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from shared import secret_names
from shared.plans import PAID_PLANS
from shared.settings import Settings
from tests.infra.conftest import ROOT
from tests.infra.test_terraform import ENTRY_POINTS, local, resources

SHARED = ROOT / "shared"
SECRET_CONSTANTS = {
    name: value
    for name, value in vars(secret_names).items()
    if name.isupper() and isinstance(value, str)
}


@cache
def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def module_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


WIRING = ROOT / "shared" / "wiring.py"


def _runtime_nodes(path: Path) -> list[ast.AST]:
    """The nodes whose imports can run: ``if TYPE_CHECKING:`` blocks never do. In
    shared/wiring.py only the module level counts: each area is imported inside its ``Services``
    accessor, which runs only when a function uses that area (``uses_service`` sees the use)."""
    module = tree(path)
    skipped: set[int] = set()
    for node in ast.walk(module):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for n in ast.walk(node)}
        if path == WIRING and isinstance(node, ast.ClassDef):
            skipped |= {id(n) for n in ast.walk(node)}
    return [n for n in ast.walk(module) if id(n) not in skipped]


def imported(path: Path) -> set[str]:
    """shared.* modules a file imports anywhere (top level or inside functions), with parents."""
    found: set[str] = set()
    for node in _runtime_nodes(path):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name.split(".")[0] != "shared" or module_file(name) is None:
                continue
            parts = name.split(".")
            found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return found


def reachable(entry: Path) -> dict[str, Path]:
    """Every shared module an entry point can load, by name."""
    seen: dict[str, Path] = {}
    todo = list(imported(entry))
    while todo:
        name = todo.pop()
        path = module_file(name)
        if name in seen or path is None:
            continue
        seen[name] = path
        todo.extend(imported(path) - set(seen))
    return seen


def defined_in(path: Path) -> set[str]:
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef)
    return {n.name for n in ast.walk(tree(path)) if isinstance(n, kinds)}


def calls(path: Path, name: str) -> bool:
    """Whether the file calls ``name`` (plain or as an attribute) outside its own definition."""
    if name in defined_in(path):
        return False
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Name) and func.id == name) or (
                isinstance(func, ast.Attribute) and func.attr == name
            ):
                return True
    return False


def uses_service(path: Path, attrs: set[str]) -> bool:
    """``services().tokens``, ``svc.accounts``...: the process's lazily built services."""
    for node in ast.walk(tree(path)):
        if not (isinstance(node, ast.Attribute) and node.attr in attrs):
            continue
        value = node.value
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
            if value.func.id == "services":
                return True
        if isinstance(value, ast.Name) and value.id in {"services", "svc", "current"}:
            return True
    return False


# A provider's client id and client secret, both read by OAuthService.client.
OAUTH_SECRETS = (
    secret_names.GOOGLE_OAUTH_CLIENT_ID,
    secret_names.GOOGLE_OAUTH_CLIENT_SECRET,
    secret_names.GITHUB_OAUTH_CLIENT_ID,
    secret_names.GITHUB_OAUTH_CLIENT_SECRET,
)

# What reads each secret, and the call that makes a function do it. The test below proves these
# are the only places the secret constants are used, so a new reader fails until it is added here.
SECRET_READERS: dict[str, tuple[str, ...]] = {
    # Services.tokens builds the Keyring over settings.signing_key_secret; accounts use tokens.
    "shared/settings.py": (secret_names.SIGNING_KEY,),
    "shared/billing/wiring.py": (
        secret_names.STRIPE_API_KEY,
        secret_names.STRIPE_WEBHOOK_SECRET,
    ),
    "shared/oauth/service.py": OAUTH_SECRETS,
    # SmtpMail logs in with it; Services.mail builds SmtpMail when CODITECT_MAIL=smtp.
    "shared/mail.py": (secret_names.SMTP_PASSWORD,),
    # The provider keys, read by the LLM gateway (a Cloud Run service, not a function: see
    # test_the_llm_gateway_reads_exactly_the_provider_keys) through each Provider.secret.
    "shared/llm/catalog.py": secret_names.LLM_PROVIDER_KEYS,
    # Services.llm_key_secret: the workspace service issues keys, the reconciler re-derives them.
    "shared/llm/keys.py": (secret_names.LLM_KEY_DERIVATION_SECRET,),
}


def secrets_needed(modules: dict[str, Path]) -> set[str]:
    paths = list(modules.values())
    needed: set[str] = set()
    if any(uses_service(p, {"tokens", "accounts"}) for p in paths):
        needed.add(secret_names.SIGNING_KEY)
    if any(uses_service(p, {"billing"}) for p in paths):
        needed.add(secret_names.STRIPE_API_KEY)  # the Stripe client's key
    if any(calls(p, "handle_webhook") for p in paths):
        needed.add(secret_names.STRIPE_WEBHOOK_SECRET)  # verifying Stripe-Signature
    if any(uses_service(p, {"oauth"}) for p in paths):
        # and the SMTP login: the owner is mailed when a sign-in method is added
        needed |= {*OAUTH_SECRETS, secret_names.SMTP_PASSWORD}
    if any(uses_service(p, {"mail"}) for p in paths):
        needed.add(secret_names.SMTP_PASSWORD)  # the SMTP login
    if any(uses_service(p, {"workspaces", "reconciler"}) for p in paths):
        needed.add(secret_names.LLM_KEY_DERIVATION_SECRET)  # workspace LLM keys
    return needed


# The areas built over the workspace settings (they need WORKSPACE_* set in production).
WORKSPACE_AREAS = {"workspaces", "reconciler", "idle_cleanup", "scheduler_auth"}


def entry_file(function: str) -> Path:
    return ROOT / "functions" / function / "main.py"


@pytest.fixture(scope="module")
def declared(modules: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return local(modules["platform"], "functions")


@pytest.fixture(scope="module")
def tfvars(environments: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return environments


# --- secrets -------------------------------------------------------------------------------


def secret_reads() -> list[tuple[Path, int, ast.expr]]:
    """Calls ``<...>.secrets.get(name)`` / ``.versions(name, n)`` (the port) in deployed code."""
    found = []
    for path in sorted([*SHARED.rglob("*.py"), *(ROOT / "functions").rglob("*.py")]):
        if path == SHARED / "secrets.py":  # the port itself
            continue
        for node in ast.walk(tree(path)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"get", "versions"}
                and re.search(r"(^|\.)_?secrets$", ast.unparse(node.func.value))
                and node.args
            ):
                found.append((path, node.lineno, node.args[0]))
    return found


def resolve_secret_name(path: Path, arg: ast.expr) -> set[str]:
    """The secret names an argument can hold, or an empty set when it cannot be told."""
    module = tree(path)
    imported_names = {
        alias.asname or alias.name: alias.name
        for node in ast.walk(module)
        if isinstance(node, ast.ImportFrom) and node.module == "shared.secret_names"
        for alias in node.names
    }
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return {arg.value}
    if isinstance(arg, ast.Name) and imported_names.get(arg.id) in SECRET_CONSTANTS:
        return {SECRET_CONSTANTS[imported_names[arg.id]]}
    if isinstance(arg, ast.Subscript) and isinstance(arg.value, ast.Name):
        # A module-level table of secret names, e.g. SECRET_NAMES[provider].
        for node in module.body:
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == arg.value.id for t in node.targets)
                and isinstance(node.value, ast.Dict)
            ):
                values = set()
                for v in node.value.values:
                    values |= resolve_secret_name(path, v)
                return values
    if path == SHARED / "llm" / "gateway.py" and ast.unparse(arg) == "provider.secret":
        # Each catalog Provider names its key with a shared.secret_names constant.
        from shared.llm.catalog import PROVIDERS

        return {p.secret for p in PROVIDERS.values()}
    if path == SHARED / "tokens.py" and ast.unparse(arg) == "self._name":
        # The Keyring is given settings.signing_key_secret (shared/wiring.py).
        return {Settings().signing_key_secret}
    return set()


def test_every_secret_read_in_the_code_is_in_secret_names() -> None:
    reads = secret_reads()
    assert len(reads) >= 5, reads  # signing key, Stripe key and webhook, OAuth ids and secrets
    for path, line, arg in reads:
        names = resolve_secret_name(path, arg)
        where = f"{path.relative_to(ROOT)}:{line} reads {ast.unparse(arg)}"
        assert names, f"{where}: name it with a shared.secret_names constant"
        assert names <= set(secret_names.ALL), f"{where}: not in secret_names.ALL"
    assert set(SECRET_CONSTANTS.values()) == set(secret_names.ALL)


def test_secret_constants_are_used_only_by_the_known_readers() -> None:
    users: dict[str, set[str]] = {}
    for path in sorted(SHARED.rglob("*.py")):
        if path.name == "secret_names.py":
            continue
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.ImportFrom) and node.module == "shared.secret_names":
                for alias in node.names:
                    rel = path.relative_to(ROOT).as_posix()
                    users.setdefault(rel, set()).add(SECRET_CONSTANTS[alias.name])
    assert users == {k: set(v) for k, v in SECRET_READERS.items()}, (
        "a module reads a secret this test does not know: teach secrets_needed() about it"
    )


def test_each_function_is_granted_exactly_the_secrets_its_code_reads(declared: dict) -> None:
    for ep in ENTRY_POINTS:
        needed = secrets_needed(reachable(entry_file(ep.function)))
        granted = set(declared[ep.function]["secrets"])
        missing, extra = needed - granted, granted - needed
        assert not missing and not extra, (ep.function, "missing", missing, "extra", extra)
    # The rules see what they should: the checks are not vacuous.
    assert secrets_needed(reachable(entry_file("auth"))) >= {
        secret_names.SIGNING_KEY,
        secret_names.STRIPE_API_KEY,
    }
    assert secrets_needed(reachable(entry_file("provisioner"))) == {
        secret_names.LLM_KEY_DERIVATION_SECRET
    }
    assert secrets_needed(reachable(entry_file("llm"))) == {secret_names.SIGNING_KEY}
    assert secrets_needed(reachable(entry_file("oauth"))) >= set(OAUTH_SECRETS)
    assert secret_names.SMTP_PASSWORD in secrets_needed(reachable(entry_file("auth")))


def test_the_llm_gateway_reads_exactly_the_provider_keys(modules: dict[str, Any]) -> None:
    from shared.llm.catalog import PROVIDERS

    granted = local(modules["platform"], "llm_provider_secrets")
    granted = set(re.findall(r'"([a-z0-9-]+)"', str(granted))) or set(granted)
    assert granted == set(secret_names.LLM_PROVIDER_KEYS) == {p.secret for p in PROVIDERS.values()}
    members = resources(modules["platform"], "google_secret_manager_secret_iam_member")
    assert members["llm_gateway_secrets"]["for_each"] == "${local.llm_provider_secrets}"


# --- environment ---------------------------------------------------------------------------


def env_read_by_code() -> set[str]:
    """Every variable a settings class reads (shared.settings), and direct ``os.environ`` reads."""
    from shared.plans import CATALOG
    from shared.settings import environment_variables

    names: set[str] = set()
    for name, *_ in environment_variables():
        if "<PLAN>" in name:
            names |= {name.replace("<PLAN>", plan.upper()) for plan in CATALOG}
        else:
            names.add(name)
    for path in sorted(SHARED.rglob("*.py")):
        source = path.read_text()
        names |= set(re.findall(r"os\.environ(?:\.get\(|\[)\"([A-Z0-9_]+)\"", source))
    return names


def function_env(declared: dict, platform_locals: Any, vars_: dict, fn: str) -> dict[str, str]:
    """Names Terraform sets for a function, each with its value expression (as text)."""
    common = local(platform_locals, "common_env")
    env: dict[str, str] = {k: str(v) for k, v in common.items()}
    raw = declared[fn]["env"]
    expanded: dict[str, str] = {}
    text = str(raw)
    for ref in re.findall(r"local\.(\w+_env)\b", text):
        if ref == "billing_env":
            for plan in vars_["stripe_prices"]:
                expanded[f"CODITECT_STRIPE_PRICE_{plan.upper()}"] = vars_["stripe_prices"][plan]
        else:
            expanded.update({k: str(v) for k, v in local(platform_locals, ref).items()})
    if isinstance(raw, dict):
        expanded.update({k: str(v) for k, v in raw.items()})
    else:  # merge(local.x, {NAME = value, ...})
        expanded.update({k: "" for k in re.findall(r"\b([A-Z][A-Z0-9_]+)\s*=", text)})
    env.update(expanded)
    env.update({k: str(v) for k, v in vars_.get("function_env", {}).get(fn, {}).items()})
    return env


def test_every_environment_variable_terraform_sets_is_read(
    declared: dict, modules: dict, tfvars: dict
) -> None:
    read = env_read_by_code()
    assert {"CODITECT_PUBLIC_URL", "WORKSPACE_DOMAIN", "CODITECT_STRIPE_PRICE_PRO"} <= read
    for env_name, vars_ in tfvars.items():
        for ep in ENTRY_POINTS:
            env = function_env(declared, modules["platform"], vars_, ep.function)
            unknown = set(env) - read
            assert not unknown, f"{env_name}/{ep.function} sets names no code reads: {unknown}"


def test_production_settings_are_set_for_each_function(
    declared: dict, modules: dict, tfvars: dict
) -> None:
    for env_name, vars_ in tfvars.items():
        assert set(vars_["stripe_prices"]) == set(PAID_PLANS), env_name
        for ep in ENTRY_POINTS:
            env = function_env(declared, modules["platform"], vars_, ep.function)
            paths = list(reachable(entry_file(ep.function)).values())
            where = f"{env_name}/{ep.function}"
            # Production adapters, not the local ones.
            assert env["CODITECT_SECRETS"] == "gcp" and env["CODITECT_EVENTS"] == "pubsub", where
            for name in ("FDB_CLUSTER_FILE", "GOOGLE_CLOUD_PROJECT", "CODITECT_PUBLIC_URL"):
                assert name in env, (where, name)
            if any(uses_service(p, {"billing"}) for p in paths):
                for plan in PAID_PLANS:
                    assert f"CODITECT_STRIPE_PRICE_{plan.upper()}" in env, (where, plan)
            if any(uses_service(p, {"oauth"}) for p in paths):
                # Client ids come from Secret Manager (granted above); the variables are only a
                # fallback for older deployments and must not come back into the committed config.
                for name in ("CODITECT_GOOGLE_CLIENT_ID", "CODITECT_GITHUB_CLIENT_ID"):
                    assert name not in env, (where, name)
            if any(uses_service(p, {"mail", "oauth"}) for p in paths):
                # The SMTP adapter, never the local outbox, with where to submit and as whom.
                assert env.get("CODITECT_MAIL") == "smtp", where
                for name in ("CODITECT_SMTP_HOST", "CODITECT_SMTP_USER", "CODITECT_MAIL_FROM"):
                    assert name in env, (where, name)
            if any(uses_service(p, WORKSPACE_AREAS) for p in paths):
                for name in ("WORKSPACE_DOMAIN", "WORKSPACE_SIDECAR_IMAGE"):
                    assert name in env, (where, name)
            if declared[ep.function]["trigger"] == "scheduler":
                # The function verifies the scheduler's OIDC token against these.
                for name in ("IDLE_CLEANUP_AUDIENCE", "IDLE_CLEANUP_INVOKER"):
                    assert name in env, (where, name)
