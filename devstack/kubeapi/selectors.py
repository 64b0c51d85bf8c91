"""Label and field selectors with the syntax and operators the real API server accepts."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import bad_request
from .kinds import Kind

Obj = dict[str, Any]
Matcher = Callable[[Obj], bool]

_KEY = r"[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VAL = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_RE = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\(\s*([^)]*)\)\s*$")
_CMP_RE = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*({_VAL})\s*$")
_EXISTS_RE = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside `in (...)` / `notin (...)` parentheses."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in parts if p.strip()]


LabelTest = Callable[[dict[str, str]], bool]


def _label_in(key: str, values: set[str]) -> LabelTest:
    return lambda labels: labels.get(key) in values


def _label_not_in(key: str, values: set[str]) -> LabelTest:
    return lambda labels: labels.get(key) not in values


def _label_present(key: str) -> LabelTest:
    return lambda labels: key in labels


def _label_absent(key: str) -> LabelTest:
    return lambda labels: key not in labels


def parse_label_selector(text: str | None) -> Matcher:
    if not text or not text.strip():
        return lambda _obj: True
    reqs: list[LabelTest] = []
    for part in _split_top(text):
        if m := _SET_RE.match(part):
            key, op, raw = m.group(1), m.group(2), m.group(3)
            values = {v.strip() for v in raw.split(",") if v.strip()}
            if not values:
                raise bad_request(
                    f"unable to parse requirement: for 'in', 'notin' operators, "
                    f"values set can't be empty: {part.strip()}"
                )
            if op == "in":
                reqs.append(_label_in(key, values))
            else:
                # Like the real server: notin matches objects without the label too.
                reqs.append(_label_not_in(key, values))
        elif m := _CMP_RE.match(part):
            key, op, val = m.group(1), m.group(2), m.group(3)
            if op == "!=":
                reqs.append(_label_not_in(key, {val}))
            else:
                reqs.append(_label_in(key, {val}))
        elif m := _EXISTS_RE.match(part):
            neg, key = m.group(1), m.group(2)
            if neg:
                reqs.append(_label_absent(key))
            else:
                reqs.append(_label_present(key))
        else:
            raise bad_request(f"unable to parse requirement: invalid label selector: {part!r}")

    def match(obj: Obj) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r(labels) for r in reqs)

    return match


_COMMON_FIELDS = {"metadata.name", "metadata.namespace"}
# The field labels the real server supports per kind (a subset; unsupported ones give 400).
_KIND_FIELDS: dict[str, set[str]] = {
    "pods": {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    },
    "events": {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    },
    "namespaces": {"status.phase"},
    "secrets": {"type"},
    "persistentvolumeclaims": set(),
}


def _field_value(obj: Obj, path: str) -> str:
    if path == "source":
        return str((obj.get("source") or {}).get("component") or "")
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text: str | None, kind: Kind) -> Matcher:
    if not text or not text.strip():
        return lambda _obj: True
    allowed = _COMMON_FIELDS | _KIND_FIELDS.get(kind.plural, set())
    reqs: list[tuple[str, bool, str]] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        op = next((o for o in ("!=", "==", "=") if o in part), None)
        if op is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field, value = part.split(op, 1)
        eq = op != "!="
        field = field.strip()
        if field not in allowed:
            raise bad_request(f"field label not supported: {field}")
        reqs.append((field, eq, value.strip()))

    def match(obj: Obj) -> bool:
        return all((_field_value(obj, f) == v) == eq for f, eq, v in reqs)

    return match
