"""Ports of the local data plane: each workspace's sidecar port, kept in ``ports.json`` so a
workspace keeps its URL across stop/start and stack restarts while that port is free."""

from __future__ import annotations

import json
import os
import re
import socket
import threading

from devstack.dataplane_processes import HOST

# A DNS label: a workspace id that can be a host name of its own.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class PortBook:
    def __init__(self, path: str, host: str) -> None:
        self._path = path
        self._host = host
        self._lock = threading.Lock()
        self._ports = self._load()

    def port(self, wid: str, running: int | None, taken: set[int]) -> int:
        """The workspace's port: the recorded one if it runs there or can be bound, else a new
        one (recorded) that is neither in ``taken`` nor another workspace's."""
        with self._lock:
            port = self._ports.get(wid)
            if port is not None and (port == running or bindable(self._host, port)):
                return port
            port = free_port(self._host, taken | set(self._ports.values()))
            self._ports[wid] = port
            self._save()
            return port

    def forget(self, wid: str, port: int | None = None) -> None:
        """Give the port back (only if it is still ``port``, when one is named)."""
        with self._lock:
            if port is None or self._ports.get(wid) == port:
                self._ports.pop(wid, None)
                self._save()

    def reserved(self) -> set[int]:
        with self._lock:
            return set(self._ports.values())

    def _load(self) -> dict[str, int]:
        try:
            with open(self._path) as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, int)}

    def _save(self) -> None:
        tmp = self._path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(self._ports, fh, indent=1, sort_keys=True)
        os.replace(tmp, self._path)


def free_port(host: str, taken: set[int]) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in taken:
            return port


def bindable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        # As the sidecar binds (aiohttp sets SO_REUSEADDR): TIME_WAIT leftovers do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def local_url(wid: str, port: int) -> str:
    """``http://<id>.localhost:<port>``: its own site per workspace (separate cookies, and not
    the app's ``127.0.0.1``), loopback and a secure context in Chromium, so ``Secure`` cookies
    work over plain http."""
    host = f"{wid}.localhost" if _LABEL.fullmatch(wid) else HOST
    return f"http://{host}:{port}"
