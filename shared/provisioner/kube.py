"""A thin gateway over the official ``kubernetes`` client for the kinds a workspace uses.

Manifests are plain dicts (see objects.py) and answers are parsed as JSON dicts
(``_preload_content=False``): the client's model (de)serialization costs more CPU than the
rest of a reconcile. Errors become :class:`KubeError` with the Status ``reason``, so callers
branch on "AlreadyExists", "NotFound", "NamespaceTerminating" and the like.

The ``ApiClient`` is passed in: built from a kubeconfig or in-cluster config in production
(:func:`make_api_client`), pointed at the stand-in locally and in tests.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.settings import Settings

log = logging.getLogger("coditect.provisioner.kube")
Obj = dict[str, Any]

# kind -> (API class, method suffix, namespaced)
_KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("CoreV1Api", "namespace", False),
    "ServiceAccount": ("CoreV1Api", "namespaced_service_account", True),
    "ResourceQuota": ("CoreV1Api", "namespaced_resource_quota", True),
    "LimitRange": ("CoreV1Api", "namespaced_limit_range", True),
    "Secret": ("CoreV1Api", "namespaced_secret", True),
    "PersistentVolumeClaim": ("CoreV1Api", "namespaced_persistent_volume_claim", True),
    "Pod": ("CoreV1Api", "namespaced_pod", True),
    "Service": ("CoreV1Api", "namespaced_service", True),
    "Event": ("CoreV1Api", "namespaced_event", True),
    "NetworkPolicy": ("NetworkingV1Api", "namespaced_network_policy", True),
    "Ingress": ("NetworkingV1Api", "namespaced_ingress", True),
}
REQUEST_TIMEOUT = (5.0, 30.0)  # connect, read (seconds) for everything but watches


class KubeError(Exception):
    """An API answer other than success: ``status`` (HTTP) and ``reason`` (Status.reason)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def terminating(self) -> bool:
        return self.status == 403 and "being terminated" in self.message


def _error(exc: Any) -> KubeError:
    status = int(getattr(exc, "status", 0) or 0)
    reason, message = str(getattr(exc, "reason", "") or ""), ""
    try:
        body = json.loads(exc.body or b"{}")
        reason = body.get("reason") or reason
        message = body.get("message") or ""
    except (TypeError, ValueError):
        message = str(exc.body or "")[:300]
    return KubeError(status, reason, message)


def make_api_client(settings: Settings, pool_size: int = 64) -> Any:
    """An ApiClient from ``KUBECONFIG`` (or ~/.kube/config), else the in-cluster config."""
    from kubernetes import client, config

    configuration = client.Configuration()
    path = settings.kubeconfig or os.path.expanduser("~/.kube/config")
    if settings.in_cluster_host and not settings.kubeconfig:
        config.load_incluster_config(client_configuration=configuration)
    else:
        config.load_kube_config(config_file=path, client_configuration=configuration)
    configuration.connection_pool_maxsize = pool_size
    return client.ApiClient(configuration)


class WatchStream:
    """One watch request; iterate ``(type, object)``; ``close()`` from any thread ends it."""

    def __init__(self, response: Any) -> None:
        self._response = response
        self._closed = threading.Event()
        self.resource_version: str | None = None

    def __iter__(self) -> Iterator[tuple[str, Obj]]:
        buffer = b""
        try:
            for chunk in self._response.stream(amt=None, decode_content=False):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        raise KubeError(
                            int(obj.get("code") or 500),
                            str(obj.get("reason") or "Error"),
                            str(obj.get("message") or ""),
                        )
                    self.resource_version = (obj.get("metadata") or {}).get("resourceVersion")
                    yield event["type"], obj
        except Exception:
            if not self._closed.is_set():
                raise
        finally:
            self._release()

    def _release(self) -> None:
        try:
            self._response.release_conn()
        except Exception:  # noqa: S110 - the connection may already be gone
            pass

    def close(self) -> None:
        self._closed.set()
        try:
            self._response.shutdown()  # unblocks a read in progress on another thread
        except Exception:  # noqa: S110
            pass


class KubeGateway:
    def __init__(self, api_client: Any) -> None:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        self.api_client = api_client
        self._apis = {
            "CoreV1Api": client.CoreV1Api(api_client),
            "NetworkingV1Api": client.NetworkingV1Api(api_client),
        }
        self._api_exception = ApiException

    def _call(self, verb: str, kind: str, *args: Any, **kwargs: Any) -> Obj:
        api, suffix, _ = _KINDS[kind]
        method = getattr(self._apis[api], f"{verb}_{suffix}")
        kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
        try:
            response = method(*args, _preload_content=False, **kwargs)
        except self._api_exception as exc:
            raise _error(exc) from None
        return json.loads(response.data or b"{}")

    @staticmethod
    def _where(kind: str, namespace: str | None) -> tuple[Any, ...]:
        return (namespace,) if _KINDS[kind][2] else ()

    def create(self, body: Obj) -> Obj:
        kind = body["kind"]
        namespace = body["metadata"].get("namespace")
        return self._call("create", kind, *self._where(kind, namespace), body)

    def get(self, kind: str, namespace: str | None, name: str) -> Obj | None:
        try:
            return self._call("read", kind, name, *self._where(kind, namespace))
        except KubeError as error:
            if error.status == 404:
                return None
            raise

    def replace(self, body: Obj) -> Obj:
        kind, meta = body["kind"], body["metadata"]
        return self._call(
            "replace", kind, meta["name"], *self._where(kind, meta.get("namespace")), body
        )

    def merge_patch(self, kind: str, namespace: str | None, name: str, patch: Obj) -> Obj:
        return self._call(
            "patch",
            kind,
            name,
            *self._where(kind, namespace),
            patch,
            _content_type="application/merge-patch+json",
        )

    def delete(self, kind: str, namespace: str | None, name: str) -> bool:
        """Delete; False when it was already gone (404 on delete means done)."""
        try:
            self._call(
                "delete",
                kind,
                name,
                *self._where(kind, namespace),
                body={"propagationPolicy": "Background"},
            )
        except KubeError as error:
            if error.status == 404:
                return False
            raise
        return True

    def watch(
        self,
        kind: str,
        namespace: str,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 300,
    ) -> WatchStream:
        api, suffix, _ = _KINDS[kind]
        method = getattr(self._apis[api], f"list_{suffix}")
        kwargs: dict[str, Any] = {"watch": True, "timeout_seconds": max(1, int(timeout_seconds))}
        if label_selector:
            kwargs["label_selector"] = label_selector
        if field_selector:
            kwargs["field_selector"] = field_selector
        if resource_version:
            kwargs["resource_version"] = resource_version
        try:
            response = method(
                namespace,
                _preload_content=False,
                _request_timeout=(REQUEST_TIMEOUT[0], timeout_seconds + 10),
                **kwargs,
            )
        except self._api_exception as exc:
            raise _error(exc) from None
        return WatchStream(response)
