"""``python -m shared.admin COMMAND ...``: the operators' tool. Prints JSON.

It builds its services from the environment like a function does (``Settings.from_env()``):
by default the local embedded store under ``CODITECT_DATA_DIR`` (stop the local stack first: one
process owns it), and with production settings (``FDB_CLUSTER_FILE``, ``CODITECT_EVENTS=pubsub``,
``GOOGLE_CLOUD_PROJECT``) the real FoundationDB and Pub/Sub.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections.abc import Callable
from typing import IO, Any

from shared import wiring
from shared.errors import ApiError
from shared.events import LocalEvents
from shared.settings import Settings
from shared.store import StoreError

Command = Callable[[wiring.Services, argparse.Namespace], Any]


def _user(svc: wiring.Services, args: argparse.Namespace) -> Any:
    from shared.admin.users import find_user

    return find_user(svc.db, args.email, svc.clock.now(), audit_limit=args.audit)


def _workspaces(svc: wiring.Services, args: argparse.Namespace) -> Any:
    from shared.admin.workspaces import list_workspaces

    return list_workspaces(svc.db, set(args.status) if args.status else None, limit=args.limit)


def _stop(svc: wiring.Services, args: argparse.Namespace) -> Any:
    from shared.admin.workspaces import stop_workspace

    return stop_workspace(
        svc.db, svc.events, svc.clock, args.workspace_id, by=args.by, reason=args.reason
    )


def _reconcile(svc: wiring.Services, args: argparse.Namespace) -> Any:
    from shared.admin.workspaces import reconcile_workspace

    workspace, message_id = reconcile_workspace(svc.db, svc.events, args.workspace_id)
    return {"workspace": workspace, "message_id": message_id}


def _requeue(svc: wiring.Services, args: argparse.Namespace) -> Any:
    from shared.admin.dead_letters import (
        DeadLetterSource,
        LocalDeadLetters,
        PubSubDeadLetters,
        requeue,
    )

    source: DeadLetterSource
    if svc.settings.events_backend == "pubsub":
        source = PubSubDeadLetters(svc.settings.gcp_project, args.subscription)
    elif isinstance(svc.events, LocalEvents):
        source = LocalDeadLetters(svc.events)
    else:
        raise ApiError("no dead-letter source for these events", code="no_dead_letters")
    retry = None
    if args.retry_failed:
        from shared.admin.workspaces import retry_failed

        if not args.by:
            raise ApiError("--retry-failed needs --by (it is audited)", code="by_required")

        def retry(wid: str) -> str:
            return retry_failed(svc.db, svc.events, svc.clock, wid, by=args.by)

    return requeue(source, svc.events, limit=args.limit, retry=retry)


def _grant(svc: wiring.Services, args: argparse.Namespace) -> Any:
    from shared.admin.licenses import set_plan

    plan = getattr(args, "plan", "free")
    return set_plan(svc.db, svc.events, svc.clock, args.email, plan, by=args.by, reason=args.reason)


def _dump(svc: wiring.Services, args: argparse.Namespace) -> Any:
    from shared.store.backup import dump_store

    return dump_store(svc.db, args.file, chunk_rows=args.chunk_rows)


def _restore(svc: wiring.Services, args: argparse.Namespace) -> Any:
    from shared.store.backup import restore_store

    return restore_store(svc.db, args.file)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared.admin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, run: Command, help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.set_defaults(run=run)
        return cmd

    def audited(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--by", required=True, help="who does it (written to the audit trail)")
        cmd.add_argument("--reason", required=True, help="why (written to the audit trail)")

    cmd = command("user", _user, "a user by email: tenant, license, workspaces, recent audit")
    cmd.add_argument("email")
    cmd.add_argument("--audit", type=int, default=20, help="audit entries to show (newest)")

    cmd = command("workspaces", _workspaces, "workspaces of every tenant, by status")
    cmd.add_argument("--status", action="append", help="repeat for several; all if omitted")
    cmd.add_argument("--limit", type=int, default=1000)

    cmd = command("stop", _stop, "stop one workspace (its files are kept), audited")
    cmd.add_argument("workspace_id")
    audited(cmd)

    cmd = command("reconcile", _reconcile, "ask the provisioner to re-check one workspace")
    cmd.add_argument("workspace_id")

    cmd = command("requeue-dead-letters", _requeue, "re-publish dead-lettered reconciles")
    cmd.add_argument("--limit", type=int, default=100)
    cmd.add_argument("--subscription", default="workspace-reconcile-dead-letter-hold")
    cmd.add_argument(
        "--retry-failed",
        action="store_true",
        help="ask failed workspaces again (new generation) instead of re-sending as they were",
    )
    cmd.add_argument("--by", help="who does it (audited; needed with --retry-failed)")

    cmd = command("grant", _grant, "set a user's plan by hand (support), audited")
    cmd.add_argument("email")
    cmd.add_argument("plan")
    audited(cmd)

    cmd = command("revoke", _grant, "put a user back on the free plan (support), audited")
    cmd.add_argument("email")
    audited(cmd)

    cmd = command("dump", _dump, "write the whole store at one read version to FILE (gzip)")
    cmd.add_argument("file")
    cmd.add_argument("--chunk-rows", type=int, default=500)

    cmd = command("restore", _restore, "load a dump into an empty store")
    cmd.add_argument("file")
    return parser


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def main(
    argv: list[str] | None = None,
    services: wiring.Services | None = None,
    out: IO[str] | None = None,
) -> int:
    """Run one command; ``services`` are the caller's (tests, a running local stack)."""
    from shared.store.backup import BackupError

    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    own = services is None
    try:
        svc = services or wiring.build(Settings.from_env())
    except StoreError as error:
        print(json.dumps({"error": {"code": "store_unavailable", "message": str(error)}}), file=out)
        return 2
    try:
        result = args.run(svc, args)
    except ApiError as error:
        print(json.dumps(error.body()), file=out)
        return 1
    except (BackupError, ValueError) as error:
        code = re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).lower()
        print(json.dumps({"error": {"code": code, "message": str(error)}}), file=out)
        return 1
    finally:
        if own:
            if isinstance(svc.events, LocalEvents):
                svc.events.close()
            svc.db.close()
    print(json.dumps(_plain(result), indent=2, default=str), file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
