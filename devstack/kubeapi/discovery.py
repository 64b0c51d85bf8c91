"""Discovery documents (/version, /api, /apis, resource lists) for the kinds the stand-in serves."""

from __future__ import annotations

from .kinds import GROUPS
from .meta import Obj
from .validation import SCHEMA_VERSION


def version() -> Obj:
    major, minor = SCHEMA_VERSION.split(".")
    return {
        "major": major,
        "minor": minor,
        "gitVersion": f"v{SCHEMA_VERSION}.0-coditect-standin",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.22.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def resource_list(group: str, version: str) -> Obj:
    kinds = GROUPS.get(group, [])
    resources = []
    for k in kinds:
        verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        resources.append(
            {
                "name": k.plural,
                "singularName": k.kind.lower(),
                "namespaced": k.namespaced,
                "kind": k.kind,
                "verbs": verbs,
                "shortNames": list(k.short_names),
            }
        )
        if k.status_subresource:
            resources.append(
                {
                    "name": f"{k.plural}/status",
                    "singularName": "",
                    "namespaced": k.namespaced,
                    "kind": k.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def group(group: str) -> Obj:
    gv = {"groupVersion": f"{group}/v1", "version": "v1"}
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [gv],
        "preferredVersion": gv,
    }


def group_list() -> Obj:
    groups = [group(g) for g in GROUPS if g]
    for g in groups:
        del g["kind"], g["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
