"""The secrets port: Secret Manager in production, files under the data directory locally.

A secret has versions, newest first; signing keys use the newest two so rotation is seamless.
Values are bytes and are never logged.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Protocol


class SecretNotFound(LookupError):
    pass


class SecretsPort(Protocol):
    def versions(self, name: str, limit: int = 2, *, fresh: bool = False) -> list[bytes]:
        """Enabled versions of ``name``, newest first; empty when the secret has none.

        ``fresh`` bypasses any cache (a key rotation must be seen at once where it matters).
        """
        ...

    def get(self, name: str) -> bytes:
        """The newest version; :class:`SecretNotFound` when there is none."""
        ...


def _newest(port: SecretsPort, name: str) -> bytes:
    found = port.versions(name, 1)
    if not found:
        raise SecretNotFound(f"secret {name!r} has no version")
    return found[0]


class LocalSecrets:
    """``CODITECT_SECRET_<NAME>`` from the environment, else files ``<dir>/<name>/<n>``."""

    def __init__(self, directory: str, env: dict[str, str] | None = None) -> None:
        self._dir = directory
        self._env = dict(os.environ if env is None else env)
        self._lock = threading.Lock()

    @staticmethod
    def env_name(name: str) -> str:
        return "CODITECT_SECRET_" + name.upper().replace("-", "_")

    def _numbers(self, name: str) -> list[int]:
        folder = os.path.join(self._dir, name)
        if not os.path.isdir(folder):
            return []
        return sorted((int(n) for n in os.listdir(folder) if n.isdigit()), reverse=True)

    def versions(self, name: str, limit: int = 2, *, fresh: bool = False) -> list[bytes]:
        from_env = self._env.get(self.env_name(name))
        if from_env:
            return [from_env.encode()]
        out = []
        for number in self._numbers(name)[:limit]:
            with open(os.path.join(self._dir, name, str(number)), "rb") as fh:
                out.append(fh.read())
        return out

    def get(self, name: str) -> bytes:
        return _newest(self, name)

    def add_version(self, name: str, value: bytes) -> None:
        with self._lock:
            folder = os.path.join(self._dir, name)
            os.makedirs(folder, mode=0o700, exist_ok=True)
            numbers = self._numbers(name)
            path = os.path.join(folder, str((numbers[0] if numbers else 0) + 1))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(value)


class SecretManagerSecrets:
    """Google Secret Manager; the client is created on first use (it is heavy to import)."""

    def __init__(self, project: str, *, client: Any = None, cache_seconds: float = 300.0) -> None:
        if not project:
            raise ValueError("GOOGLE_CLOUD_PROJECT is required for Secret Manager")
        self._project = project
        self._client = client
        self._cache: dict[tuple[str, int], tuple[float, list[bytes]]] = {}
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()

    def _get_client(self) -> Any:
        if self._client is None:
            from google.cloud import secretmanager

            self._client = secretmanager.SecretManagerServiceClient()
        return self._client

    def versions(self, name: str, limit: int = 2, *, fresh: bool = False) -> list[bytes]:
        key = (name, limit)
        with self._lock:
            cached = self._cache.get(key)
            if not fresh and cached and time.monotonic() - cached[0] < self._cache_seconds:
                return cached[1]
        client = self._get_client()
        parent = f"projects/{self._project}/secrets/{name}"
        listed = client.list_secret_versions(request={"parent": parent, "filter": "state:ENABLED"})
        newest = sorted(listed, key=lambda v: v.create_time, reverse=True)[:limit]
        values = [
            bytes(client.access_secret_version(request={"name": v.name}).payload.data)
            for v in newest
        ]
        with self._lock:
            self._cache[key] = (time.monotonic(), values)
        return values

    def get(self, name: str) -> bytes:
        return _newest(self, name)
