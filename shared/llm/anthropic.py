"""OpenAI chat completions <-> Anthropic Messages, both ways, streaming and tool calls included.

Wire formats: https://docs.anthropic.com/en/api/messages and .../messages-streaming.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from shared.llm.catalog import Model
from shared.llm.errors import LlmError

API_VERSION = "2023-06-01"
FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _image_block(part: dict[str, Any]) -> dict[str, Any]:
    url = (part.get("image_url") or {}).get("url", "")
    if url.startswith("data:") and ";base64," in url:
        media, data = url[5:].split(";base64,", 1)
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks = []
    for part in content or []:
        if part.get("type") == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif part.get("type") == "image_url":
            blocks.append(_image_block(part))
    return blocks


def _arguments(raw: str) -> Any:
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        raise LlmError(400, "invalid_tool_arguments", "tool call arguments are not JSON") from None


def _messages(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    system: list[str] = []
    out: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        # Anthropic wants user/assistant turns; tool results are user blocks, merged per turn.
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text_of(message.get("content")))
        elif role == "user":
            add("user", _user_blocks(message.get("content")))
        elif role == "assistant":
            blocks: list[dict[str, Any]] = []
            text = _text_of(message.get("content"))
            if text:
                blocks.append({"type": "text", "text": text})
            for call in message.get("tool_calls") or []:
                fn = call.get("function") or {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.get("id"),
                        "name": fn.get("name"),
                        "input": _arguments(fn.get("arguments", "")),
                    }
                )
            add("assistant", blocks or [{"type": "text", "text": ""}])
        elif role == "tool":
            add(
                "user",
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": message.get("tool_call_id"),
                        "content": _text_of(message.get("content")),
                    }
                ],
            )
        else:
            raise LlmError(400, "invalid_message_role", f"unknown message role {role!r}")
    return "\n\n".join(s for s in system if s), out


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None and parallel is None:
        return None
    if choice in (None, "auto"):
        out: dict[str, Any] = {"type": "auto"}
    elif choice == "required":
        out = {"type": "any"}
    elif choice == "none":
        return {"type": "none"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        out = {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    else:
        raise LlmError(400, "invalid_tool_choice", "tool_choice is not understood")
    if parallel is False:
        out["disable_parallel_tool_use"] = True
    return out


def to_request(body: dict[str, Any], model: Model) -> dict[str, Any]:
    """An OpenAI chat completion request as an Anthropic Messages request."""
    system, messages = _messages(body.get("messages") or [])
    out: dict[str, Any] = {
        "model": model.upstream,
        "messages": messages,
        "max_tokens": body.get("max_completion_tokens")
        or body.get("max_tokens")
        or model.max_output,
    }
    if system:
        out["system"] = system
    if body.get("stream"):
        out["stream"] = True
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            out[name] = body[name]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("tools"):
        out["tools"] = [
            {
                "name": t["function"]["name"],
                "description": t["function"].get("description", ""),
                "input_schema": t["function"].get("parameters")
                or {"type": "object", "properties": {}},
            }
            for t in body["tools"]
            if t.get("type") == "function"
        ]
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice and body.get("tools"):
        out["tool_choice"] = choice
    if body.get("user"):
        out["metadata"] = {"user_id": str(body["user"])[:256]}
    return out


def _usage(usage: dict[str, Any]) -> dict[str, int]:
    prompt = sum(
        int(usage.get(k) or 0)
        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    completion = int(usage.get("output_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def to_response(message: dict[str, Any], model_id: str) -> dict[str, Any]:
    """An Anthropic Messages response as an OpenAI chat completion."""
    text = "".join(b.get("text", "") for b in message.get("content", []) if b.get("type") == "text")
    calls = [
        {
            "id": b["id"],
            "type": "function",
            "function": {"name": b["name"], "arguments": json.dumps(b.get("input") or {})},
        }
        for b in message.get("content", [])
        if b.get("type") == "tool_use"
    ]
    reply: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        reply["tool_calls"] = calls
    return {
        "id": f"chatcmpl-{message.get('id', '')}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_id,
        "choices": [
            {
                "index": 0,
                "message": reply,
                "logprobs": None,
                "finish_reason": FINISH.get(message.get("stop_reason") or "", "stop"),
            }
        ],
        "usage": _usage(message.get("usage") or {}),
    }


@dataclass
class StreamTranslator:
    """Feeds Anthropic stream events, yields OpenAI chunks; keeps the usage it saw."""

    model_id: str
    created: int = field(default_factory=lambda: int(time.time()))
    id: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    finished: bool = False
    _tool_index: dict[int, int] = field(default_factory=dict)  # content block -> tool call index

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model_id,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def usage_chunk(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model_id,
            "choices": [],
            "usage": _usage(self.usage),
        }

    def feed(self, event: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        kind = data.get("type", event)
        if kind == "message_start":
            message = data.get("message") or {}
            self.id = f"chatcmpl-{message.get('id', '')}"
            self.usage.update(message.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = self._tool_index.setdefault(data.get("index", 0), len(self._tool_index))
                call = {
                    "index": index,
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": ""},
                }
                return [self._chunk({"tool_calls": [call]})]
            if block.get("text"):
                return [self._chunk({"content": block["text"]})]
            return []
        if kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta":
                return [self._chunk({"content": delta.get("text", "")})]
            if delta.get("type") == "input_json_delta":
                index = self._tool_index.get(data.get("index", 0), 0)
                part = {"index": index, "function": {"arguments": delta.get("partial_json", "")}}
                return [self._chunk({"tool_calls": [part]})]
            return []  # thinking and signature deltas have no OpenAI counterpart
        if kind == "message_delta":
            self.usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
            reason = (data.get("delta") or {}).get("stop_reason") or "end_turn"
            return [self._chunk({}, FINISH.get(reason, "stop"))]
        if kind == "message_stop":
            self.finished = True
            return []
        if kind == "error":
            error = data.get("error") or {}
            raise LlmError(502, "upstream_error", f"upstream: {error.get('message', 'error')}")
        return []  # ping and future event types
