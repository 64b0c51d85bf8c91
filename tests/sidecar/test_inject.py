"""activity.js injected into HTML documents served for top-level navigations, and nothing else.

A real upstream serves /page (HTML in several shapes, chunked or not, optionally held back
before its last bytes) and the sidecar is driven by aiohttp clients over real sockets.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator

import aiohttp
import pytest

from sidecar.inject import SCRIPT_TAG, inject, injectable, is_document_request, is_frame_request

from .conftest import SidecarFactory, SidecarUnderTest, page_body

NAVIGATION = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}
CAP = 64 * 1024  # INJECT_MAX_BYTES for these tests


@pytest.fixture
async def raw() -> AsyncIterator[aiohttp.ClientSession]:
    # Bytes as sent: no decompression, so a compressed body can be compared byte for byte.
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


@pytest.fixture
async def sc(make_sidecar: SidecarFactory) -> SidecarUnderTest:
    return await make_sidecar(inject_max_bytes=CAP)


async def fetch(
    session: aiohttp.ClientSession, sc: SidecarUnderTest, query: str, **headers: str
) -> tuple[aiohttp.ClientResponse, bytes]:
    async with session.get(f"{sc.url}/page?{query}", headers={**sc.bearer(), **headers}) as resp:
        return resp, await resp.read()


# -- the pure helpers -------------------------------------------------------------------------


def test_insert_position() -> None:
    assert inject(b"<html><head><title>t</title></HEAD><body></body></html>") == (
        b"<html><head><title>t</title>" + SCRIPT_TAG + b"</HEAD><body></body></html>"
    )
    assert inject(b"<p>x</p></Body>") == b"<p>x</p>" + SCRIPT_TAG + b"</Body>"
    assert inject(b"just text") == b"just text" + SCRIPT_TAG
    assert SCRIPT_TAG == b'<script src="/__coditect/activity.js"></script>'


def test_which_requests_are_documents() -> None:
    assert is_document_request("GET", {"Sec-Fetch-Dest": "document"})
    assert is_document_request("POST", {"Sec-Fetch-Dest": "document"})
    assert not is_document_request("HEAD", {"Sec-Fetch-Dest": "document"})
    for dest in ("iframe", "empty", "script", "style", "image", "font", "worker"):
        # Fetch metadata wins over Accept when present.
        assert not is_document_request("GET", {"Sec-Fetch-Dest": dest, "Accept": "text/html"})
    assert is_document_request("GET", {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert not is_document_request("GET", {"Accept": "*/*"})
    assert not is_document_request("GET", {})
    # Frames: their own kind (beacon, no activity), never mistaken for a top-level page.
    assert is_frame_request("GET", {"Sec-Fetch-Dest": "iframe"})
    assert is_frame_request("GET", {"Sec-Fetch-Dest": "frame"})
    assert not is_frame_request("HEAD", {"Sec-Fetch-Dest": "iframe"})
    for dest in ("document", "empty", "script", ""):
        assert not is_frame_request("GET", {"Sec-Fetch-Dest": dest, "Accept": "text/html"})


def test_which_responses_are_edited() -> None:
    html = {"Content-Type": "text/html; charset=utf-8"}
    assert injectable("GET", 200, html, CAP)
    assert injectable("GET", 404, {**html, "Content-Length": str(CAP)}, CAP)
    assert not injectable("GET", 200, {**html, "Content-Length": str(CAP + 1)}, CAP)
    assert not injectable("HEAD", 200, html, CAP)
    for status in (101, 204, 206, 304):
        assert not injectable("GET", status, html, CAP)
    assert not injectable("GET", 200, {**html, "Content-Encoding": "br"}, CAP)
    assert not injectable("GET", 200, {"Content-Type": "text/html; charset=UTF-16"}, CAP)
    for other in ("application/json", "text/plain", "application/xhtml+xml", ""):
        assert not injectable("GET", 200, {"Content-Type": other}, CAP)


# -- through the proxy ------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", ["", "&chunked=1"])
@pytest.mark.parametrize("kind", ["head", "body", "none"])
async def test_navigation_gets_the_script(
    sc: SidecarUnderTest, raw: aiohttp.ClientSession, kind: str, chunked: str
) -> None:
    resp, body = await fetch(raw, sc, f"kind={kind}&size=5000{chunked}", **NAVIGATION)
    assert resp.status == 200
    assert body == inject(page_body(kind, 5000))
    assert body.count(SCRIPT_TAG) == 1
    at = body.index(SCRIPT_TAG)
    if kind == "head":
        assert body[at + len(SCRIPT_TAG) :].startswith(b"</HEAD>")
    elif kind == "body":
        assert body[at + len(SCRIPT_TAG) :] == b"</BODY>"
    else:
        assert body.endswith(SCRIPT_TAG)
    # Length fixed, whether the upstream sent one or streamed chunks.
    assert resp.headers["Content-Length"] == str(len(body))
    assert "Transfer-Encoding" not in resp.headers
    assert "Sec-Fetch-Dest" in resp.headers["Vary"]
    # Our client offered gzip; the upstream was asked for an identity body instead.
    assert sc.upstream.page_requests[-1]["Accept-Encoding"] == "identity"


async def test_accept_text_html_without_fetch_metadata_is_a_navigation(
    sc: SidecarUnderTest, raw: aiohttp.ClientSession
) -> None:
    _, body = await fetch(raw, sc, "kind=head", Accept="text/html,*/*;q=0.8")
    assert body == inject(page_body("head"))


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Dest": "empty", "Accept": "text/html"},  # fetch()/XHR of an HTML file
        {"Accept": "*/*"},
        {},
    ],
)
async def test_html_for_other_requests_is_untouched(
    sc: SidecarUnderTest, raw: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    # Named explicitly: the client library's default depends on what is installed (brotli).
    asked = {**headers, "Accept-Encoding": "gzip, deflate"}
    resp, body = await fetch(raw, sc, "kind=head&size=3000", **asked)
    assert body == page_body("head", 3000)
    assert resp.headers["Content-Length"] == "3000"
    # Compression is the client's to negotiate when we do not edit the body.
    assert sc.upstream.page_requests[-1]["Accept-Encoding"].startswith("gzip, deflate")


async def test_framed_page_gets_the_script_without_counting_as_activity(
    sc: SidecarUnderTest, raw: aiohttp.ClientSession
) -> None:
    """The app's IDE tab: a cross-site iframe navigation gets the beacon (its input must count),
    but loading a frame is not activity by itself."""
    before = sc.state.metrics.registry.get_sample_value(
        "sidecar_activity_signals_total", {"source": "navigation"}
    )
    frame = {
        "Sec-Fetch-Dest": "iframe",
        "Sec-Fetch-Mode": "navigate",
        "Sec-Fetch-Site": "cross-site",
    }
    resp, body = await fetch(raw, sc, "kind=head&size=3000", **frame)
    assert body == inject(page_body("head", 3000))
    assert resp.headers["Content-Length"] == str(len(body))
    assert sc.upstream.page_requests[-1]["Accept-Encoding"] == "identity"
    after = sc.state.metrics.registry.get_sample_value(
        "sidecar_activity_signals_total", {"source": "navigation"}
    )
    assert after == before
    assert sc.state.activity.last_active is None


async def test_non_html_navigation_untouched(
    sc: SidecarUnderTest, raw: aiohttp.ClientSession
) -> None:
    for kind in ("text/plain", "application/json", "application/xhtml+xml"):
        resp, body = await fetch(raw, sc, f"kind=head&type={kind}", **NAVIGATION)
        assert body == page_body("head")
        assert "Vary" not in resp.headers


async def test_compressed_anyway_is_untouched(
    sc: SidecarUnderTest, raw: aiohttp.ClientSession
) -> None:
    # An upstream that ignores Accept-Encoding: identity gets its body passed through as is.
    resp, body = await fetch(raw, sc, "kind=head&gzip=1", **NAVIGATION)
    assert resp.headers["Content-Encoding"] == "gzip"
    assert body == gzip.compress(page_body("head"), mtime=0)


async def test_head_request_untouched(sc: SidecarUnderTest, raw: aiohttp.ClientSession) -> None:
    async with raw.head(f"{sc.url}/page?kind=head", headers={**sc.bearer(), **NAVIGATION}) as r:
        assert r.status == 200
        assert r.headers["Content-Length"] == str(len(page_body("head")))


async def first_bytes_before_gate(
    sc: SidecarUnderTest, session: aiohttp.ClientSession, query: str, need: int, **headers: str
) -> bytes:
    """Read ``need`` bytes while the upstream still holds back its last 16, then the rest."""
    sc.upstream.gate.clear()
    async with session.get(
        f"{sc.url}/page?{query}&gate=1", headers={**sc.bearer(), **headers}
    ) as resp:
        assert resp.status == 200
        # The upstream has not finished: getting these bytes now proves they are streamed.
        start = await asyncio.wait_for(resp.content.readexactly(need), timeout=5)
        assert not sc.upstream.gate.is_set()
        sc.upstream.gate.set()
        return start + await resp.read()


async def test_other_responses_still_stream(
    sc: SidecarUnderTest, raw: aiohttp.ClientSession
) -> None:
    size = 100_000
    # HTML for a fetch, and a non-HTML document for a navigation: neither is buffered.
    body = await first_bytes_before_gate(
        sc, raw, f"size={size}", size - 16, **{"Sec-Fetch-Dest": "empty"}
    )
    assert body == page_body("head", size)
    body = await first_bytes_before_gate(
        sc, raw, f"size={size}&type=text/plain", size - 16, **NAVIGATION
    )
    assert body == page_body("head", size)


@pytest.mark.parametrize("chunked", ["", "&chunked=1"])
async def test_oversized_document_passes_through_streamed(
    sc: SidecarUnderTest, raw: aiohttp.ClientSession, chunked: str
) -> None:
    size = CAP * 3
    # Known too large by its Content-Length, or found too large while buffering: either way it
    # streams out unchanged, without waiting for the end.
    body = await first_bytes_before_gate(sc, raw, f"size={size}{chunked}", CAP + 1, **NAVIGATION)
    assert body == page_body("head", size)
    assert SCRIPT_TAG not in body


async def test_document_just_under_the_cap_is_edited(
    sc: SidecarUnderTest, raw: aiohttp.ClientSession
) -> None:
    resp, body = await fetch(raw, sc, f"size={CAP}&chunked=1", **NAVIGATION)
    assert body == inject(page_body("head", CAP))
    assert resp.headers["Content-Length"] == str(CAP + len(SCRIPT_TAG))
