"""Reading an OpenAI-style chat completion reply."""

from __future__ import annotations

import math
from typing import Any


def parse_chat_completion(reply: Any) -> tuple[str, tuple[int, int] | None]:
    """The answer text (choices[0].message.content) and (prompt_tokens, completion_tokens) from
    `usage`, or None when the reply has no usage. A ValueError says what is malformed."""
    if not isinstance(reply, dict):
        raise ValueError(f"expected a JSON object, got {_kind(reply)}")
    if "choices" not in reply:
        error = reply.get("error")
        if error is not None:
            raise ValueError(f"'choices' is missing; the server reported an error: {_short(error)}")
        raise ValueError("'choices' is missing")
    choices = reply["choices"]
    if not isinstance(choices, list):
        raise ValueError(f"'choices' must be a list, got {_kind(choices)}")
    if not choices:
        raise ValueError("'choices' is empty")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise ValueError(f"choices[0] must be an object, got {_kind(choice)}")
    message = choice.get("message")
    if not isinstance(message, dict):
        raise ValueError(
            "choices[0].message is missing"
            if message is None
            else f"choices[0].message must be an object, got {_kind(message)}"
        )
    if "content" not in message:
        raise ValueError("choices[0].message.content is missing")
    content = message["content"]
    if not isinstance(content, str):
        raise ValueError(f"choices[0].message.content must be a string, got {_kind(content)}")
    usage = reply.get("usage")
    if usage is None:
        return content, None
    if not isinstance(usage, dict):
        raise ValueError(f"'usage' must be an object, got {_kind(usage)}")
    tokens = []
    for key in ("prompt_tokens", "completion_tokens"):
        count = usage.get(key)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"usage.{key} must be an integer >= 0, got {_kind(count)}")
        tokens.append(count)
    return content, (tokens[0], tokens[1])


def stream_delta(event: Any) -> str:
    """The text a chat completion chunk adds (choices[0].delta.content), or "" when none."""
    try:
        content = event["choices"][0]["delta"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""
    return content if isinstance(content, str) else ""


def parse_chat_stream(events: list[Any]) -> tuple[str, tuple[int, int] | None]:
    """The answer text and token usage of a streamed chat completion (its chunks, in order)."""
    if not events:
        raise ValueError("the stream ended before any chunk")
    content = "".join(stream_delta(event) for event in events)
    usage = next(
        (e["usage"] for e in reversed(events) if isinstance(e, dict) and isinstance(e.get("usage"), dict)), None
    )
    if usage is None:
        return content, None
    _, tokens = parse_chat_completion({"choices": [{"message": {"content": ""}}], "usage": usage})
    return content, tokens


def logprob_confidence(reply: Any) -> float | None:
    """The answer's mean token probability, exp(mean of choices[0].logprobs.content[].logprob),
    from a chat completion or its streamed chunks; None when the reply carries no logprobs."""
    events = reply if isinstance(reply, list) else [reply]
    logprobs = []
    for event in events:
        try:
            content = event["choices"][0]["logprobs"]["content"]
        except (KeyError, IndexError, TypeError):
            continue
        if isinstance(content, list):
            logprobs += [
                float(t["logprob"])
                for t in content
                if isinstance(t, dict)
                and isinstance(t.get("logprob"), (int, float))
                and not isinstance(t.get("logprob"), bool)
            ]
    if not logprobs:
        return None
    return min(1.0, max(0.0, math.exp(sum(logprobs) / len(logprobs))))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    name = {bool: "boolean", int: "number", float: "number", str: "string", list: "list", dict: "object"}.get(
        type(value), type(value).__name__
    )
    text = repr(value)
    return f"{name} {text}" if len(text) <= 40 else name


def _short(value: Any) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= 120 else text[:119] + "…"
