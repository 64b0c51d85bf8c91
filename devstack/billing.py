"""Stripe for ``make dev``: localstripe, seeded, with its webhook pointed at the local origin.

The component starts ``localstripe`` as a subprocess on a free loopback port (its data kept in
``<data dir>/localstripe.pickle``, so a restart keeps customers and subscriptions), creates the
products and the two plans, registers the webhook ``<origin>/webhooks/stripe`` signed with the
``stripe-webhook-secret`` secret (default ``whsec_coditect_local``), and wires the billing service
to it. localstripe has no Checkout and no Billing Portal, so a small stand-in serves Stripe's two
session endpoints and their pages; each page ends as Stripe does, with a signed webhook.

``python -m devstack.billing localstripe --port N --data FILE`` is the subprocess: localstripe's
own app, bound to 127.0.0.1 (it binds every interface on its own) and persisting to FILE (it
hard-codes /tmp/localstripe.pickle, which every instance on the machine would share).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypedDict

from devstack.billing_sessions import SessionsStandIn

if TYPE_CHECKING:
    from devstack.stack import LocalStack

DEFAULT_API_KEY = "sk_test_coditect_local"
DEFAULT_WEBHOOK_SECRET = "whsec_coditect_local"
WEBHOOK_ID = "coditect"


class LocalPlan(TypedDict):
    id: str
    amount: int  # cents a month
    name: str


# localstripe speaks plans, not prices: these ids stand where production has price ids.
LOCAL_PLANS: dict[str, LocalPlan] = {
    "starter": {"id": "coditect-starter-monthly", "amount": 2900, "name": "Coditect Starter"},
    "pro": {"id": "coditect-pro-monthly", "amount": 9900, "name": "Coditect Pro"},
}


# -- localstripe subprocess ----------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"localstripe exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("localstripe did not start in time")


class LocalStripe:
    """A localstripe subprocess; ``url`` is its API base."""

    def __init__(self, data_file: str | None = None, log_file: str | None = None) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "devstack.billing", "localstripe", "--port", str(self.port)]
        if data_file:
            cmd += ["--data", data_file]
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self._log = open(log_file or os.devnull, "ab")  # closed in stop()
        self.proc = subprocess.Popen(
            cmd, cwd=root, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        try:
            _wait_for_port(self.port, self.proc)
        except Exception:
            self.stop()
            raise

    def register_webhook(self, url: str, secret: str) -> None:
        import requests

        response = requests.post(
            f"{self.url}/_config/webhooks/{WEBHOOK_ID}",
            data={"url": url, "secret": secret},
            timeout=10,
        )
        response.raise_for_status()

    def reset(self) -> None:
        import requests

        requests.delete(f"{self.url}/_config/data", timeout=10).raise_for_status()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def seed_plans(client: Any) -> dict[str, tuple[str, ...]]:
    """Products and plans on localstripe (kept across restarts); returns plan -> ids."""
    import stripe

    for plan in LOCAL_PLANS.values():
        try:
            client.v1.plans.retrieve(plan["id"])
            continue
        except stripe.InvalidRequestError:
            pass
        product = client.v1.products.create(params={"name": plan["name"]})
        client.v1.plans.create(
            params={
                "id": plan["id"],
                "product": product.id,
                "amount": plan["amount"],
                "currency": "usd",
                "interval": "month",
            }
        )
    return {name: (plan["id"],) for name, plan in LOCAL_PLANS.items()}


def run_localstripe(port: int, data_file: str | None) -> None:
    """The subprocess body: localstripe's aiohttp app on loopback, persisting to ``data_file``."""
    import pickle

    from aiohttp import web
    from localstripe import resources, server

    store = resources.store
    if data_file:

        def dump() -> None:
            tmp = data_file + ".tmp"
            with open(tmp, "wb") as fh:
                pickle.dump(dict(store), fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, data_file)

        if os.path.exists(data_file):
            with open(data_file, "rb") as fh:
                dict.update(store, pickle.load(fh))  # noqa: S301 - our own file, written above
        # The instance's methods win over the class's hard-coded /tmp path.
        store.dump_to_disk = dump
    else:
        store.dump_to_disk = lambda: None
    web.run_app(server.app, host="127.0.0.1", port=port, print=None, access_log=None)


# -- the component -------------------------------------------------------------------------------
def start_billing(stack: LocalStack) -> Callable[[], None]:
    """``COMPONENTS`` entry: localstripe + the sessions stand-in, wired into billing."""
    from shared.billing.settings import BillingSettings
    from shared.billing.wiring import build_billing_service
    from shared.secret_names import STRIPE_API_KEY, STRIPE_WEBHOOK_SECRET
    from shared.secrets import LocalSecrets

    services = stack.services
    assert services is not None
    if stack.settings.billing.api_base:
        stack.started.append("billing: Stripe API from CODITECT_STRIPE_API_BASE (no localstripe)")
        return lambda: None

    # Local secrets: the environment wins (LocalSecrets reads it first); else documented defaults.
    if isinstance(services.secrets, LocalSecrets):
        for name, default in (
            (STRIPE_API_KEY, DEFAULT_API_KEY),
            (STRIPE_WEBHOOK_SECRET, DEFAULT_WEBHOOK_SECRET),
        ):
            if not services.secrets.versions(name, 1):
                services.secrets.add_version(name, default.encode())
    api_key = services.secrets.get(STRIPE_API_KEY).decode().strip()
    webhook_secret = services.secrets.get(STRIPE_WEBHOOK_SECRET).decode().strip()

    data_dir = os.path.abspath(stack.settings.data_dir)
    os.makedirs(data_dir, exist_ok=True)
    local = LocalStripe(
        os.path.join(data_dir, "localstripe.pickle"), os.path.join(data_dir, "localstripe.log")
    )
    standin: SessionsStandIn | None = None
    try:
        import stripe

        client = stripe.StripeClient(
            api_key, base_addresses={"api": local.url}, max_network_retries=0
        )
        prices = seed_plans(client)
        webhook_url = f"{stack.url}/webhooks/stripe"
        local.register_webhook(webhook_url, webhook_secret)
        standin = SessionsStandIn(
            local.url,
            api_key,
            webhook_url,
            webhook_secret,
            {plan["id"]: plan["name"] for plan in LOCAL_PLANS.values()},
        )
        standin.start()
        settings = BillingSettings(
            api_base=local.url,
            sessions_api_base=standin.url,
            flavor="localstripe",
            prices=prices,
            network_retries=0,
        )
        services.use(billing=build_billing_service(services, settings))
    except Exception:
        if standin is not None:
            standin.stop()
        local.stop()
        raise
    stack.started.append(
        f"localstripe {local.url} (webhook -> {webhook_url}, plans "
        f"{', '.join(p['id'] for p in LOCAL_PLANS.values())})"
    )
    stack.started.append(f"Stripe Checkout/Portal stand-in {standin.url}")

    def stop() -> None:
        standin.stop()
        local.stop()

    return stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.billing")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("localstripe", help="run localstripe on loopback")
    run.add_argument("--port", type=int, required=True)
    run.add_argument("--data", default=None, help="persist to this file (default: memory only)")
    args = parser.parse_args(argv)
    run_localstripe(args.port, args.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
