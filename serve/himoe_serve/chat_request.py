from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import attrs

from .api_error import ApiError

# OpenAI chat parameters handed to experts as `ctx.options` (the HTTP chat experts use them).
GENERATION_KEYS = ("max_tokens", "temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty")
# Accepted and ignored: they describe the OpenAI client's wishes that routing has no use for.
IGNORED_KEYS = (
    "n",
    "user",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "response_format",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "stream_options",
    "metadata",
    "store",
    "service_tier",
    "modalities",
    "reasoning_effort",
)
HIMOE_KEYS = ("budget_ms", "task", "k", "context")
ROLES = ("system", "developer", "user", "assistant", "tool")


@attrs.frozen
class ChatRequest:
    """A checked `POST /v1/chat/completions` body: the request text (the last user message),
    the router it names (None: the orchestrator decides), the options for the experts and
    himoe's own extensions (`"himoe": {"budget_ms", "task", "k", "context"}`); `context` is the
    request's metadata for routing, an object of categories (strings, booleans) and numbers,
    checked by the engine (a bad one is a 400 naming the field)."""

    text: str
    router: str | None
    stream: bool
    options: dict[str, Any]
    budget_ms: float | None = None
    task: str | None = None
    k: int | None = None
    context: dict[str, Any] | None = None

    @classmethod
    def parse(cls, body: Any, routers: Iterable[str]) -> ChatRequest:
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object", code="invalid_body")
        unknown = sorted(
            set(body)
            - {"model", "messages", "stream", "himoe", "max_completion_tokens", *GENERATION_KEYS, *IGNORED_KEYS}
        )
        if unknown:
            raise ApiError(400, f"unknown field {unknown[0]!r} in the chat request", code="unknown_field")
        router = model_router(body.get("model"), routers)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ApiError(
                400, "'messages' must be a non-empty list of {role, content} objects", code="invalid_messages"
            )
        history = [_message(m, i) for i, m in enumerate(messages)]
        last_user = max((i for i, m in enumerate(history) if m["role"] == "user"), default=None)
        if last_user is None:
            raise ApiError(
                400, "'messages' holds no user message: the last user message is the request", code="invalid_messages"
            )
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise ApiError(400, f"'stream' must be true or false, got {stream!r}", code="invalid_stream")
        options: dict[str, Any] = {}
        for key in GENERATION_KEYS:
            if body.get(key) is not None:
                options[key] = _generation_value(key, body[key])
        if body.get("max_completion_tokens") is not None:  # OpenAI's newer name for max_tokens
            limit = _generation_value("max_tokens", body["max_completion_tokens"])
            if options.setdefault("max_tokens", limit) != limit:
                raise ApiError(
                    400,
                    f"max_tokens ({options['max_tokens']}) and max_completion_tokens ({limit}) disagree; give one",
                    code="invalid_parameter",
                )
        if last_user:
            options["messages"] = tuple(history[:last_user])
        extensions = body.get("himoe") or {}
        if not isinstance(extensions, dict) or set(extensions) - set(HIMOE_KEYS):
            raise ApiError(
                400,
                f"'himoe' must be an object with keys among {', '.join(HIMOE_KEYS)}, got {extensions!r}",
                code="invalid_himoe",
            )
        budget = extensions.get("budget_ms")
        if budget is not None and (
            isinstance(budget, bool) or not isinstance(budget, (int, float)) or not math.isfinite(budget) or budget < 0
        ):
            raise ApiError(
                400, f"himoe.budget_ms must be a number of milliseconds >= 0, got {budget!r}", code="invalid_budget"
            )
        task = extensions.get("task")
        if task is not None and not isinstance(task, str):
            raise ApiError(400, f"himoe.task must be a string such as 'fr:tag', got {task!r}", code="invalid_task")
        k = extensions.get("k")
        if k is not None and (type(k) is not int or k < 1):
            raise ApiError(400, f"himoe.k must be a whole number >= 1, got {k!r}", code="invalid_k")
        context = extensions.get("context")
        if context is not None and not isinstance(context, dict):
            raise ApiError(
                400,
                f'himoe.context must be an object such as {{"tenant": "acme", "priority": 2}}, got {context!r}',
                code="invalid_context",
            )
        return cls(
            history[last_user]["content"],
            router,
            stream,
            options,
            float(budget) if budget is not None else None,
            task,
            k,
            context,
        )


def model_router(model: Any, routers: Iterable[str]) -> str | None:
    """The router a `model` names: None for "himoe" (the orchestrator decides), else the id of
    "himoe/<router>"; 404 for any other model."""
    if not isinstance(model, str) or not model:
        raise ApiError(400, f'\'model\' must be "himoe" or "himoe/<router>", got {model!r}', code="invalid_model")
    if model == "himoe":
        return None
    prefix, _, router = model.partition("/")
    known = sorted(routers)
    if prefix != "himoe" or router not in known:
        raise ApiError(
            404,
            f"the model {model!r} does not exist; models: himoe, " + ", ".join(f"himoe/{r}" for r in known),
            code="model_not_found",
        )
    return router


def _message(message: Any, index: int) -> dict[str, str]:
    if not isinstance(message, dict) or message.get("role") not in ROLES:
        raise ApiError(
            400, f"messages[{index}] must be an object with a role among {', '.join(ROLES)}", code="invalid_messages"
        )
    content = message.get("content")
    if isinstance(content, list):  # content parts: the text ones are the message
        if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content):
            raise ApiError(400, f"messages[{index}].content: only text parts are supported", code="invalid_messages")
        content = "".join(p["text"] for p in content)
    if not isinstance(content, str):
        raise ApiError(400, f"messages[{index}].content must be a string, got {content!r}", code="invalid_messages")
    return {"role": message["role"], "content": content}


def _generation_value(key: str, value: Any) -> Any:
    if key == "stop":
        if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return value if isinstance(value, str) else tuple(value)
    elif key in ("max_tokens", "seed"):
        if type(value) is int and (value >= 1 or key == "seed"):
            return value
    elif not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    raise ApiError(400, f"{key!r} has a bad value: {value!r}", code="invalid_parameter")
