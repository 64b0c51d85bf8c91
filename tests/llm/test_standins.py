"""The provider stand-ins speak the real wire formats: checked with the official SDKs."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from devstack.llm import ANTHROPIC_STANDIN_KEY, OPENAI_STANDIN_KEY, LocalGateway

TOOL: Any = {
    "name": "search_code",
    "description": "Search the workspace",
    "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
}


def claude(gateway: LocalGateway, key: str = ANTHROPIC_STANDIN_KEY) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key=key, base_url=gateway.standins.anthropic_url, max_retries=0, timeout=10
    )


def test_anthropic_messages(gateway: LocalGateway) -> None:
    message = claude(gateway).messages.create(
        model="claude-3-5-haiku-20241022",
        max_tokens=100,
        messages=[{"role": "user", "content": "hello [chunks:3]"}],
        tools=[TOOL],
    )
    assert message.content[0].type == "text" and message.content[0].text == "The quick brown "
    assert message.content[1].type == "tool_use" and message.content[1].input == {
        "query": "fox",
        "limit": 3,
    }
    assert message.stop_reason == "tool_use" and message.usage.output_tokens == 3


def test_anthropic_stream_accumulates(gateway: LocalGateway) -> None:
    with claude(gateway).messages.stream(
        model="claude-3-5-haiku-20241022",
        max_tokens=100,
        messages=[{"role": "user", "content": "hello [chunks:5]"}],
        tools=[TOOL],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "The quick brown fox jumps "
    tool_use = final.content[1]
    assert tool_use.type == "tool_use" and tool_use.input == {"query": "fox", "limit": 3}
    assert final.stop_reason == "tool_use" and final.usage.output_tokens == 5


def test_anthropic_errors(gateway: LocalGateway) -> None:
    with pytest.raises(anthropic.AuthenticationError):
        claude(gateway, "wrong").messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(anthropic.RateLimitError):
        claude(gateway).messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "[fault:429]"}]
        )
    with pytest.raises(anthropic.APIStatusError) as raised:
        with claude(gateway).messages.stream(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "[fault:error-after]"}]
        ) as stream:
            list(stream.text_stream)
    assert "Overloaded" in str(raised.value)


def test_openai_standin_direct(gateway: LocalGateway) -> None:
    direct = openai.OpenAI(
        api_key=OPENAI_STANDIN_KEY, base_url=f"{gateway.standins.openai_url}/v1", max_retries=0
    )
    chunks = list(
        direct.chat.completions.create(
            model="x",
            messages=[{"role": "user", "content": "[chunks:3]"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
