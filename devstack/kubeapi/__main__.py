"""Run the Kubernetes API stand-in: `python -m devstack.kubeapi --port 6443 --ready-delay 2`."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from .server import KubeStandin


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m devstack.kubeapi", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6443, help="0 picks a free port")
    p.add_argument(
        "--ready-delay", type=float, default=1.0, help="seconds from pod creation to Running/Ready"
    )
    p.add_argument("--namespace-delete-delay", type=float, default=0.2)
    p.add_argument(
        "--pod-delete-grace",
        type=float,
        default=0.0,
        help="seconds a deleted pod stays Terminating (0: immediate)",
    )
    p.add_argument(
        "--fault-interval",
        type=float,
        default=None,
        help="seconds between repeated failure events (default: ready delay)",
    )
    p.add_argument("--latency", type=float, default=0.0, help="added to every API call")
    p.add_argument("--no-validate", action="store_true", help="skip the schema check")
    p.add_argument("--kubeconfig", help="also write a kubeconfig pointing at the stand-in")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    server = KubeStandin(
        args.host,
        args.port,
        ready_delay=args.ready_delay,
        validate=not args.no_validate,
        latency=args.latency,
        namespace_delete_delay=args.namespace_delete_delay,
        pod_delete_grace=args.pod_delete_grace,
        fault_interval=args.fault_interval,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    try:
        if args.kubeconfig:
            server.kubeconfig(args.kubeconfig)
        print(f"Kubernetes API stand-in listening on {server.url}", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
