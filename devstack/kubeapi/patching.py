"""PATCH bodies: JSON merge patch (RFC 7386), a small strategic merge patch, JSON patch."""

from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError, bad_request

# List fields that strategic merge patch merges by key (patchMergeKey in the Go types); all
# other lists are replaced, as in a JSON merge patch.
_MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "ownerReferences": "uid",
    "conditions": "type",
    "containerStatuses": "name",
    "hostAliases": "ip",
}
# Primitive lists with patchStrategy=merge: union instead of replace.
_UNION_LISTS = {"finalizers"}


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def strategic_merge_patch(target: Any, patch: Any, field: str = "") -> Any:
    if isinstance(patch, list):
        return _strategic_list(target, patch, field)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: v for k, v in copy.deepcopy(patch).items() if not k.startswith("$")}
    if patch.get("$patch") == "delete":
        return None
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$"):  # $setElementOrder, $retainKeys, ...: ordering hints, ignored
            continue
        if v is None:
            out.pop(k, None)
        else:
            merged = strategic_merge_patch(out.get(k), v, k)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
    return out


def _strategic_list(target: Any, patch: list[Any], field: str) -> list[Any]:
    current = list(target) if isinstance(target, list) else []
    if field in _UNION_LISTS:
        return current + [v for v in patch if v not in current]
    key = _MERGE_KEYS.get(field)
    if key is None or not all(isinstance(p, dict) for p in patch):
        return [p for p in copy.deepcopy(patch) if not (isinstance(p, dict) and "$patch" in p)]
    for item in patch:
        if item.get("$patch") == "replace":
            return [p for p in copy.deepcopy(patch) if "$patch" not in p]
    for item in patch:
        idx = next(
            (
                i
                for i, c in enumerate(current)
                if isinstance(c, dict) and c.get(key) == item.get(key)
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if idx is not None:
                current.pop(idx)
        elif idx is None:
            current.append(strategic_merge_patch({}, item))
        else:
            current[idx] = strategic_merge_patch(current[idx], item)
    return current


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> tuple[Any, str]:
    cur = doc
    for p in parts[:-1]:
        if isinstance(cur, list):
            cur = cur[int(p)]
        elif isinstance(cur, dict):
            cur = cur[p]
        else:
            raise KeyError(p)
    return cur, parts[-1]


def _get(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for p in parts:
        cur = cur[int(p)] if isinstance(cur, list) else cur[p]
    return cur


def json_patch(doc: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in ops:
        try:
            kind, parts = op["op"], _pointer(op.get("path", ""))
            if kind in ("move", "copy"):
                value = copy.deepcopy(_get(doc, _pointer(op["from"])))
                if kind == "move":
                    doc = json_patch(doc, [{"op": "remove", "path": op["from"]}])
                doc = json_patch(doc, [{"op": "add", "path": op["path"], "value": value}])
                continue
            if kind == "test":
                if _get(doc, parts) != op.get("value"):
                    raise ApiError(
                        422,
                        "Invalid",
                        f"the server rejected our request due to an error in our "
                        f"request: testing value {op['path']} failed",
                    )
                continue
            if not parts:
                if kind in ("add", "replace"):
                    doc = copy.deepcopy(op["value"])
                    continue
                raise bad_request("cannot remove the document root")
            parent, last = _parent(doc, parts)
            if kind == "add":
                if isinstance(parent, list):
                    parent.insert(len(parent) if last == "-" else int(last), op["value"])
                else:
                    parent[last] = op["value"]
            elif kind == "replace":
                if isinstance(parent, list):
                    parent[int(last)] = op["value"]
                else:
                    if last not in parent:
                        raise KeyError(last)
                    parent[last] = op["value"]
            elif kind == "remove":
                if isinstance(parent, list):
                    parent.pop(int(last))
                else:
                    del parent[last]
            else:
                raise bad_request(f"Unexpected kind: {kind}")
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise ApiError(
                422,
                "Invalid",
                f"the server rejected our request due to an error in our request: "
                f"jsonpatch {op.get('op') if isinstance(op, dict) else op} operation does not "
                f"apply: doc is missing path: {op.get('path') if isinstance(op, dict) else ''}",
            ) from e
    return doc


def apply_patch(content_type: str, current: dict[str, Any], body: Any) -> dict[str, Any]:
    ct = content_type.split(";")[0].strip().lower()
    if ct == "application/json-patch+json":
        result = json_patch(current, body)
    elif ct == "application/merge-patch+json":
        if not isinstance(body, dict):
            raise bad_request("merge patch body must be a JSON object")
        result = merge_patch(current, body)
    elif ct == "application/strategic-merge-patch+json":
        if not isinstance(body, dict):
            raise bad_request("strategic merge patch body must be a JSON object")
        result = strategic_merge_patch(current, body)
    else:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: "
            f"application/json-patch+json, application/merge-patch+json, "
            f"application/strategic-merge-patch+json (got {ct!r}; server-side apply is not "
            f"modelled by the stand-in)",
        )
    if not isinstance(result, dict):
        raise bad_request("patch result is not an object")
    return result
