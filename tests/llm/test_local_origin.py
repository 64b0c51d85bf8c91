"""The local stack's LLM component: stand-ins and gateway started by ``start(stack)``, reached
with the openai SDK through the one origin (waitress) at /api/llm/v1, chunks not held back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import waitress

from devstack import llm as devstack_llm
from devstack.stack import HTTP_FUNCTIONS, Dispatcher, LocalStack, load_function
from tests.llm.conftest import Workspace


@pytest.fixture
def origin(services: Any) -> Iterator[str]:
    stack = LocalStack(services.settings)
    stack.services = services
    stop = devstack_llm.start(stack)
    routes: list[tuple[str, Any]] = [("/api/llm/v1/", devstack_llm.origin_relay(stack))]
    routes += [(p, load_function(fn.name)) for fn in HTTP_FUNCTIONS for p in fn.prefixes]
    server = waitress.create_server(
        Dispatcher(routes, stack.health), host="127.0.0.1", port=0, threads=8
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert any("LLM gateway" in line for line in stack.started)
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(5)
    stop()


def test_openai_client_through_the_origin_gets_each_chunk_when_sent(
    origin: str, workspace: Workspace
) -> None:
    llm = openai.OpenAI(api_key=workspace.key, base_url=f"{origin}/api/llm/v1", max_retries=0)
    assert "gpt-4o-mini" in {m.id for m in llm.models.list()}
    arrivals = []
    started = time.monotonic()
    for chunk in llm.chat.completions.create(
        model="claude-3-5-haiku",
        messages=[{"role": "user", "content": "[chunks:6] [gap:150]"}],
        stream=True,
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 6
    # Chunks 150 ms apart upstream arrive spread out, not in one burst at the end.
    assert arrivals[-1] - arrivals[0] > 0.5
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            api_key="cdt_llm_nope_nope_nope_nope", base_url=f"{origin}/api/llm/v1", max_retries=0
        ).models.list()
