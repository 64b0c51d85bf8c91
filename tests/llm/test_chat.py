"""Chat completions through the gateway with the official openai SDK: OpenAI-shaped and
translated Anthropic upstreams, streaming and not, tool calls, usage."""

from __future__ import annotations

import json
from typing import Any

import openai

from devstack.llm import LocalGateway
from shared.llm import metering
from tests.llm.conftest import Workspace

TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "search_code",
            "description": "Search the workspace",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
]


def test_models_lists_what_the_plan_may_use(llm: openai.OpenAI) -> None:
    ids = {m.id for m in llm.models.list()}
    assert {"gpt-4o-mini", "claude-3-5-haiku", "gemini-2.5-flash", "deepseek-chat"} <= ids
    assert "gpt-4o" not in ids and "claude-opus-4" not in ids  # free plan


def test_non_streaming_openai_shaped(llm: openai.OpenAI, gateway: LocalGateway) -> None:
    reply = llm.chat.completions.create(
        model="mistral-small", messages=[{"role": "user", "content": "hi [chunks:5]"}]
    )
    assert reply.choices[0].message.content == "The quick brown fox jumps "
    assert reply.usage is not None and reply.usage.completion_tokens == 5
    sent = gateway.standins.openai_log.requests[-1]
    assert sent["model"] == "mistral-small-latest"  # the catalog's upstream name


def test_streaming_openai_shaped_hides_usage_it_did_not_ask_for(
    llm: openai.OpenAI, gateway: LocalGateway
) -> None:
    stream = llm.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi [chunks:6]"}],
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "The quick brown fox jumps over "
    assert all(c.usage is None for c in chunks)
    assert gateway.standins.openai_log.requests[-1]["stream_options"] == {"include_usage": True}


def test_streaming_usage_passed_when_asked(llm: openai.OpenAI) -> None:
    stream = llm.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi [chunks:4]"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    last = list(stream)[-1]
    assert last.choices == [] and last.usage is not None and last.usage.completion_tokens == 4


def test_tool_calls_openai_shaped_streaming(llm: openai.OpenAI) -> None:
    stream = llm.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "find the fox"}],
        tools=TOOLS,
        stream=True,
    )
    chunks = [c for c in stream if c.choices]
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].function is not None and calls[0].function.name == "search_code"
    args = "".join((tc.function.arguments or "") for tc in calls if tc.function)
    assert json.loads(args) == {"query": "fox", "limit": 3}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_anthropic_non_streaming_translated(llm: openai.OpenAI, gateway: LocalGateway) -> None:
    reply = llm.chat.completions.create(
        model="claude-3-5-haiku",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello [chunks:3]"},
        ],
        tools=TOOLS,
    )
    message = reply.choices[0].message
    assert message.content == "The quick brown "
    assert message.tool_calls
    call = message.tool_calls[0]
    assert call.type == "function" and call.function.name == "search_code"
    assert json.loads(call.function.arguments) == {"query": "fox", "limit": 3}
    assert reply.choices[0].finish_reason == "tool_calls"
    sent = gateway.standins.anthropic_log.requests[-1]
    assert sent["system"] == "be brief" and sent["model"] == "claude-3-5-haiku-20241022"
    assert sent["tools"][0]["input_schema"]["properties"] == {"query": {"type": "string"}}
    assert sent["max_tokens"] == 8192


def test_anthropic_stream_translated_with_tool_calls_and_usage(llm: openai.OpenAI) -> None:
    stream = llm.chat.completions.create(
        model="claude-3-5-haiku",
        messages=[{"role": "user", "content": "hello [chunks:4]"}],
        tools=TOOLS,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "The quick brown fox "
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].id == "toolu_01" and calls[0].function and calls[0].function.name
    args = "".join((tc.function.arguments or "") for tc in calls if tc.function)
    assert json.loads(args) == {"query": "fox", "limit": 3}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "tool_calls"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4


def test_tool_result_round_trip_to_anthropic(llm: openai.OpenAI, gateway: LocalGateway) -> None:
    reply = llm.chat.completions.create(
        model="claude-3-5-haiku",
        messages=[
            {"role": "user", "content": "find the fox"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "toolu_01",
                        "type": "function",
                        "function": {"name": "search_code", "arguments": '{"query":"fox"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_01", "content": "fox.py:3"},
        ],
        tools=TOOLS,
    )
    assert reply.choices[0].finish_reason == "stop"
    sent = gateway.standins.anthropic_log.requests[-1]["messages"]
    assert sent[1]["content"][0] == {
        "type": "tool_use",
        "id": "toolu_01",
        "name": "search_code",
        "input": {"query": "fox"},
    }
    assert sent[2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "fox.py:3"}],
    }


def test_usage_is_recorded_per_model_and_day(
    llm: openai.OpenAI, services: Any, workspace: Workspace
) -> None:
    for _ in range(2):
        list(
            llm.chat.completions.create(
                model="claude-3-5-haiku",
                messages=[{"role": "user", "content": "x [chunks:7]"}],
                stream=True,
            )
        )
    llm.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x [chunks:2]"}]
    )
    month = metering.month_of(services.clock.now())
    rows = wait_rows(services, workspace.tenant_id, month, 2)
    by_model = {r.model: r.usage for r in rows}
    assert by_model["claude-3-5-haiku"].requests == 2
    assert by_model["claude-3-5-haiku"].output_tokens == 14
    assert by_model["gpt-4o-mini"].output_tokens == 2
    haiku = by_model["claude-3-5-haiku"]
    each = round(haiku.input_tokens / 2 * 0.8 + 7 * 4.0)  # micro-dollars, rounded per request
    assert haiku.cost_micro_usd == 2 * each
    assert services.db.transact(metering.monthly_requests, workspace.tenant_id, month) == 3


def wait_rows(services: Any, tenant_id: str, month: str, models: int) -> list[Any]:
    import time

    deadline = time.monotonic() + 5
    while True:
        rows = services.db.transact(metering.usage_rows, tenant_id, month)
        if len({r.model for r in rows}) >= models or time.monotonic() > deadline:
            return rows
        time.sleep(0.02)
