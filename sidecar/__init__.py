"""Coditect workspace sidecar: the authenticated HTTP/WebSocket reverse proxy of a workspace pod.

It listens on :8080 in front of the IDE (Theia on 127.0.0.1:3000), exchanges one-time launch
tokens for a host-only session cookie, checks every request (cookie or workspace Bearer token),
forwards HTTP streamed and WebSockets spliced byte-for-byte, and reports user activity to the
platform. See docs/sidecar.md; what counts as activity is defined in ``sidecar.activity``.
"""
