"""Object checks: the official OpenAPI schema (via kubernetes-validate) plus the few semantic
rules of the real API server the provisioner can trip over (names, labels, pod containers...).

`kubernetes_validate.validate` re-reads a ~1 MB definitions file on every call (~7 ms); we build
the same Draft 2020-12 validator from the same schema files once per kind (~0.2 ms per object).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

from .errors import ApiError, bad_request, invalid
from .kinds import Kind

Obj = dict[str, Any]
Cause = tuple[str, str, str]  # (reason, field, message)

SCHEMA_VERSION = "1.31"

_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QNAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_CONFIG_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")

_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


# ---------------------------------------------------------------- schema (kubernetes-validate)


@functools.cache
def _schema_dir(version: str) -> str:
    # Same version resolution as kubernetes_validate.validate: newest schema set <= version.
    mm = kv_utils.major_minor(version)
    best = [v for v in kv_utils.all_versions() if kv_utils.major_minor(v) <= mm][-1]
    return f"kubernetes-json-schema/v{best}-local-strict"


@functools.cache
def _registry(version: str) -> Registry:
    defs = kv_utils.schema_contents(f"{_schema_dir(version)}/_definitions.json", version)
    return Resource.from_contents(defs) @ Registry()


@functools.cache
def _validator(kind: str, api_version: str, version: str) -> jsonschema.Validator:
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = kv_utils.schema_contents(f"{_schema_dir(version)}/{kind.lower()}-{api}.json", version)
    registry = Resource.from_contents(schema) @ _registry(version)
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def schema_validate(obj: Obj, version: str = SCHEMA_VERSION) -> None:
    """Equivalent to `kubernetes_validate.validate(obj, version, strict=True)`, cached.

    Raises kubernetes_validate.ValidationError like the library does.
    """
    try:
        validator = _validator(obj["kind"], obj["apiVersion"], version)
    except (OSError, kv_utils.SchemaNotFoundError):  # pragma: no cover - layout changed
        kubernetes_validate.validate(obj, version, strict=True)
        return
    try:
        validator.validate(obj)
    except jsonschema.ValidationError as e:
        raise kubernetes_validate.ValidationError(e, version=kv_utils.major_minor(version)) from e


def warm_up() -> None:
    """Load the schemas for all served kinds (first load costs ~0.1-0.3 s)."""
    from .kinds import ALL_KINDS

    for k in ALL_KINDS:
        _validator(k.kind, k.api_version, SCHEMA_VERSION)


def _json_path(path: Any) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


# ---------------------------------------------------------------- semantic rules


def _name_causes(rule: str, field: str, name: str) -> list[Cause]:
    if rule == "segment":
        if name in (".", "..") or "/" in name or "%" in name:
            return [("FieldValueInvalid", field, f'Invalid value: "{name}": may not contain "/"')]
        return []
    if rule == "label" or rule == "dns1035":
        causes = []
        if len(name) > 63:
            causes.append(
                (
                    "FieldValueInvalid",
                    field,
                    f'Invalid value: "{name}": must be no more than 63 characters',
                )
            )
        regex, msg = (_LABEL_RE, _LABEL_MSG) if rule == "label" else (_DNS1035_RE, _DNS1035_MSG)
        if not regex.match(name):
            causes.append(("FieldValueInvalid", field, f'Invalid value: "{name}": {msg}'))
        return causes
    causes = []
    if len(name) > 253:
        causes.append(
            (
                "FieldValueInvalid",
                field,
                f'Invalid value: "{name}": must be no more than 253 characters',
            )
        )
    if not _SUBDOMAIN_RE.match(name):
        causes.append(("FieldValueInvalid", field, f'Invalid value: "{name}": {_SUBDOMAIN_MSG}'))
    return causes


def _qualified_name_causes(field: str, key: str) -> list[Cause]:
    prefix, _, name = key.rpartition("/")
    bad = (
        not name
        or len(name) > 63
        or not _QNAME_RE.match(name)
        or ("/" in key and (not prefix or len(prefix) > 253 or not _SUBDOMAIN_RE.match(prefix)))
    )
    if bad:
        return [
            (
                "FieldValueInvalid",
                field,
                f'Invalid value: "{key}": name part must consist of alphanumeric characters, '
                "'-', '_' or '.', and must start and end with an alphanumeric character, with an "
                "optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
            )
        ]
    return []


def _metadata_causes(kind: Kind, obj: Obj) -> list[Cause]:
    meta = obj.get("metadata") or {}
    causes: list[Cause] = []
    name = meta.get("name")
    if name:
        causes += _name_causes(kind.name_rule, "metadata.name", name)
    labels = meta.get("labels") or {}
    for k, v in labels.items():
        causes += _qualified_name_causes("metadata.labels", k)
        if not isinstance(v, str) or len(v) > 63 or not _LABEL_VALUE_RE.match(v):
            causes.append(
                (
                    "FieldValueInvalid",
                    "metadata.labels",
                    f'Invalid value: "{v}": a valid label must be an empty string or consist of '
                    "alphanumeric characters, '-', '_' or '.', and must start and end with an "
                    "alphanumeric character, and be at most 63 characters",
                )
            )
    annotations = meta.get("annotations") or {}
    for k in annotations:
        causes += _qualified_name_causes("metadata.annotations", k)
    size = sum(len(k) + len(str(v)) for k, v in annotations.items())
    if size > 256 * 1024:
        causes.append(
            (
                "FieldValueTooLong",
                "metadata.annotations",
                "Too long: must have at most 262144 bytes",
            )
        )
    return causes


def _pod_causes(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    containers = spec.get("containers") or []
    if not containers:
        causes.append(("FieldValueRequired", "spec.containers", "Required value"))
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(group) or []):
            path = f"spec.{group}[{i}]"
            cname = c.get("name") or ""
            if not cname:
                causes.append(("FieldValueRequired", f"{path}.name", "Required value"))
            else:
                causes += _name_causes("label", f"{path}.name", cname)
                if cname in seen:
                    causes.append(
                        ("FieldValueDuplicate", f"{path}.name", f'Duplicate value: "{cname}"')
                    )
                seen.add(cname)
            if not c.get("image"):
                causes.append(("FieldValueRequired", f"{path}.image", "Required value"))
    return causes


def _service_causes(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    if spec.get("type") == "ExternalName" or spec.get("clusterIP") == "None":
        return []
    causes: list[Cause] = []
    ports = spec.get("ports") or []
    if not ports:
        causes.append(("FieldValueRequired", "spec.ports", "Required value"))
    for i, p in enumerate(ports):
        port = p.get("port")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            causes.append(
                (
                    "FieldValueInvalid",
                    f"spec.ports[{i}].port",
                    f"Invalid value: {port}: must be between 1 and 65535, inclusive",
                )
            )
    return causes


def _data_key_causes(obj: Obj) -> list[Cause]:
    causes: list[Cause] = []
    for field in ("data", "binaryData", "stringData"):
        for k in obj.get(field) or {}:
            if len(k) > 253 or not _CONFIG_KEY_RE.match(k):
                causes.append(
                    (
                        "FieldValueInvalid",
                        f"{field}[{k}]",
                        f'Invalid value: "{k}": a valid config key must consist of '
                        "alphanumeric characters, '-', '_' or '.'",
                    )
                )
    return causes


def _pvc_causes(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    if not spec.get("accessModes"):
        causes.append(
            (
                "FieldValueRequired",
                "spec.accessModes",
                "Required value: at least 1 access mode is required",
            )
        )
    if not ((spec.get("resources") or {}).get("requests") or {}).get("storage"):
        causes.append(("FieldValueRequired", "spec.resources[storage]", "Required value"))
    return causes


_KIND_RULES = {
    "pods": _pod_causes,
    "services": _service_causes,
    "configmaps": _data_key_causes,
    "secrets": _data_key_causes,
    "persistentvolumeclaims": _pvc_causes,
}


def check_object(kind: Kind, obj: Obj, *, schema: bool = True) -> None:
    """Raise 422 Invalid like the real server if `obj` fails the schema or semantic rules."""
    name = (obj.get("metadata") or {}).get("name") or ""
    if schema:
        try:
            schema_validate(obj)
        except kubernetes_validate.ValidationError as e:
            field = _json_path(e.path)
            raise invalid(kind, name, [("FieldValueInvalid", field, e.message)]) from e
    causes = _metadata_causes(kind, obj)
    rule = _KIND_RULES.get(kind.plural)
    if rule:
        causes += rule(obj)
    if causes:
        raise invalid(kind, name, causes)


def check_name_only(kind: Kind, name: str, field: str = "metadata.name") -> None:
    causes = _name_causes(kind.name_rule, field, name)
    if causes:
        raise invalid(kind, name, causes)


# ---------------------------------------------------------------- update rules

_POD_MUTABLE = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")


def _pod_spec_sans_mutable(spec: Obj) -> Obj:
    out = {k: v for k, v in spec.items() if k not in _POD_MUTABLE}
    for group in ("containers", "initContainers"):
        if group in out:
            out[group] = [{k: v for k, v in c.items() if k != "image"} for c in out[group]]
    return out


def check_update(kind: Kind, old: Obj, new: Obj) -> None:
    """Immutable-field rules the real server enforces on update (422)."""
    name = old["metadata"]["name"]
    p = kind.plural
    if p == "pods":
        if _pod_spec_sans_mutable(old.get("spec") or {}) != _pod_spec_sans_mutable(
            new.get("spec") or {}
        ):
            raise invalid(
                kind,
                name,
                [
                    (
                        "FieldValueForbidden",
                        "spec",
                        "Forbidden: pod updates may not change fields other than "
                        "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                        "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
                        "existing tolerations),`spec.terminationGracePeriodSeconds`",
                    )
                ],
            )
    elif p == "rolebindings":
        if old.get("roleRef") != new.get("roleRef"):
            raise invalid(
                kind,
                name,
                [
                    (
                        "FieldValueInvalid",
                        "roleRef",
                        f"Invalid value: {new.get('roleRef')}: cannot change roleRef",
                    )
                ],
            )
    elif p in ("configmaps", "secrets"):
        if old.get("immutable") and any(
            old.get(f) != new.get(f) for f in ("data", "binaryData", "immutable")
        ):
            raise invalid(
                kind,
                name,
                [
                    (
                        "FieldValueForbidden",
                        "data",
                        "Forbidden: field is immutable when `immutable` is set",
                    )
                ],
            )
    elif p == "persistentvolumeclaims":
        o, n = dict(old.get("spec") or {}), dict(new.get("spec") or {})
        o.pop("resources", None)
        n.pop("resources", None)
        if o != n:
            raise invalid(
                kind,
                name,
                [
                    (
                        "FieldValueForbidden",
                        "spec",
                        "Forbidden: spec is immutable after creation "
                        "except resources.requests and volumeAttributesClassName for bound claims",
                    )
                ],
            )
    elif p == "services":
        oip = (old.get("spec") or {}).get("clusterIP")
        nip = (new.get("spec") or {}).get("clusterIP")
        if oip and nip and oip != nip:
            raise invalid(
                kind,
                name,
                [
                    (
                        "FieldValueInvalid",
                        "spec.clusterIPs[0]",
                        f'Invalid value: ["{nip}"]: may not change once set',
                    )
                ],
            )


def normalize_secret(obj: Obj) -> None:
    """Fold stringData into data (base64) and reject undecodable data, as the server does."""
    for k, v in (obj.get("data") or {}).items():
        try:
            base64.b64decode(v, validate=True)
        except (binascii.Error, TypeError) as e:
            raise bad_request(
                f'Secret in version "v1" cannot be handled as a Secret: illegal base64 data '
                f"in data[{k}]"
            ) from e
    string_data = obj.pop("stringData", None)
    if string_data:
        data = obj.setdefault("data", {}) or {}
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()
        obj["data"] = data


__all__ = [
    "SCHEMA_VERSION",
    "ApiError",
    "check_name_only",
    "check_object",
    "check_update",
    "normalize_secret",
    "schema_validate",
    "warm_up",
]
