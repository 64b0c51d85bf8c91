"""Upstream failures before and after the first byte, fallback, and client disconnects."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import openai
import pytest

from devstack.llm import LocalGateway
from shared.llm import metering
from tests.llm.conftest import Workspace, client


def used(services: Any, workspace: Workspace) -> int:
    month = metering.month_of(services.clock.now())
    return int(services.db.transact(metering.monthly_requests, workspace.tenant_id, month))


def wait_for(check: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


@pytest.mark.parametrize("fault", ["429x1", "500x1"])
def test_retry_before_first_byte_succeeds(
    llm: openai.OpenAI, gateway: LocalGateway, fault: str
) -> None:
    prompt = f"retry me [fault:{fault}] [chunks:3]"
    stream = llm.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "The quick brown "
    assert gateway.standins.openai_log.forwarded(prompt) == 2


def test_fallback_to_the_next_model_of_the_family(
    llm: openai.OpenAI, gateway: LocalGateway
) -> None:
    prompt = "[fault:500@llama-3.3-70b-versatile] [chunks:2]"
    reply = llm.chat.completions.with_raw_response.create(
        model="llama-3.3-70b", messages=[{"role": "user", "content": prompt}]
    )
    assert reply.headers["x-coditect-model"] == "llama-3.1-8b"
    assert reply.parse().choices[0].message.content == "The quick "
    models = [b["model"] for b in gateway.standins.openai_log.requests]
    assert models == ["llama-3.3-70b-versatile"] * 2 + ["llama-3.1-8b-instant"]


@pytest.mark.parametrize(
    ("model", "fault", "error", "status", "code"),
    [
        ("gpt-4o-mini", "429", openai.RateLimitError, 429, "upstream_rate_limited"),
        ("gpt-4o-mini", "500", openai.InternalServerError, 502, "upstream_unavailable"),
        ("claude-3-5-haiku", "500", openai.InternalServerError, 502, "upstream_unavailable"),
    ],
)
def test_failure_before_first_byte_is_not_counted(
    llm: openai.OpenAI,
    services: Any,
    workspace: Workspace,
    model: str,
    fault: str,
    error: type[openai.APIStatusError],
    status: int,
    code: str,
) -> None:
    with pytest.raises(error) as raised:
        llm.chat.completions.create(
            model=model, messages=[{"role": "user", "content": f"[fault:{fault}]"}], stream=True
        )
    assert raised.value.status_code == status
    body: Any = raised.value.body
    assert body["code"] == code and body["type"] and body["message"]
    wait_for(lambda: used(services, workspace) == 0)  # released after the response


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-3-5-haiku"])
@pytest.mark.parametrize("fault", ["error-after", "cut"])
def test_failure_after_first_byte_ends_the_stream_with_an_error(
    llm: openai.OpenAI,
    gateway: LocalGateway,
    services: Any,
    workspace: Workspace,
    model: str,
    fault: str,
) -> None:
    prompt = f"[fault:{fault}] [chunks:10] {model}"
    received: list[str] = []
    with pytest.raises(openai.APIError):
        for chunk in llm.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}], stream=True
        ):
            received.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(received) == "The quick brown "  # what came before the failure
    logs = gateway.standins.openai_log, gateway.standins.anthropic_log
    assert sum(log.forwarded(prompt) for log in logs) == 1  # never retried after a byte
    wait_for(lambda: used(services, workspace) == 1)  # it counts


def test_slow_first_byte_within_the_timeout_is_served(llm: openai.OpenAI) -> None:
    reply = llm.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "[fault:slow:0.3] [chunks:1]"}]
    )
    assert reply.choices[0].message.content == "The "


def test_first_byte_timeout_is_a_504(
    llm: openai.OpenAI, gateway: LocalGateway, services: Any, workspace: Workspace
) -> None:
    gw = gateway.gateway
    gw.settings = dataclasses.replace(gw.settings, first_byte_timeout_seconds=0.2)
    with pytest.raises(openai.APIStatusError) as raised:
        llm.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "[fault:slow:1]"}]
        )
    assert raised.value.status_code == 504
    wait_for(lambda: used(services, workspace) == 0)


def test_client_disconnect_mid_stream_cancels_the_upstream(
    llm: openai.OpenAI, gateway: LocalGateway
) -> None:
    log = gateway.standins.openai_log
    stream = llm.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "[chunks:200] [gap:50]"}],
        stream=True,
    )
    iterator = iter(stream)
    next(iterator), next(iterator)
    stream.close()
    wait_for(lambda: log.cancelled == 1)
    assert log.completed == 0


def test_client_disconnect_before_first_byte_cancels_and_is_not_counted(
    gateway: LocalGateway, workspace: Workspace, services: Any
) -> None:
    impatient = client(gateway, workspace.key, timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        impatient.chat.completions.create(
            model="claude-3-5-haiku",
            messages=[{"role": "user", "content": "[fault:slow:3]"}],
            stream=True,
        )
    wait_for(lambda: gateway.standins.anthropic_log.cancelled == 1)
    wait_for(lambda: used(services, workspace) == 0)
