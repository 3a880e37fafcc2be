from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from himoe_core import Context, ExpertAux, ExpertFailed, ExpertOut, InputData, InvalidInput, Value

from ...base_models.http.redaction import safe_url
from ...base_models.http.streamed_reply import StreamedReply
from ...chat_replies import logprob_confidence, parse_chat_completion, parse_chat_stream, stream_delta
from ...config.http_expert_config import HttpExpertConfig
from ...task_prefixes import matching_prefix, strip_prefix

# The request's own generation settings (`ctx.options`, filled by `himoe serve`) the endpoint gets.
GENERATION_OPTIONS = ("max_tokens", "temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty")


class OpenAIChatExpert:
    """Answers with an OpenAI-compatible chat completions endpoint declared in config."""

    def __init__(self, config: HttpExpertConfig) -> None:
        if config.kind != "openai-chat" or config.model is None:
            raise ValueError(f"OpenAIChatExpert needs an 'openai-chat' config with a model, got kind {config.kind!r}")
        self.config = config
        self.name = config.name
        self.domain = config.domain
        self.cost_units = config.cost_units
        self.description = config.description or f"chat model {config.model!r} at {safe_url(config.url)}"
        self.example = f"{config.tasks[0]} hello"
        self.handles = tuple(config.tasks)  # its task prefixes, looked up by routers
        self._caller = config.caller()

    def __repr__(self) -> str:
        return (
            f"OpenAIChatExpert(name={self.name!r}, url={safe_url(self.config.url)!r}, model={self.config.model!r}, "
            f"api_key_env={self.config.api_key_env!r})"
        )

    def can_handle(self, task: str) -> bool:
        return matching_prefix(task, self.config.tasks) is not None

    def request_body(self, x: InputData, options: Mapping[str, Any] | None = None) -> dict:
        """The chat completion request for `x`: its text without the task prefix as the user
        message, after the configured system prompt and the conversation so far.

        `options` are the request's `ctx.options`: its `messages` (the earlier turns) come
        before the user message, and its generation settings (`max_tokens`, `temperature`,
        `top_p`, `stop`, `seed`, `presence_penalty`, `frequency_penalty`) replace the config's."""
        text = x.as_text()
        if text is None:
            raise InvalidInput(f"expert {self.name!r} takes text input, got {x.kind.value}; send the prompt as text")
        prompt = strip_prefix(text, self.config.tasks)
        if not prompt:
            raise InvalidInput(
                f"expert {self.name!r} got an empty prompt; write the question after the "
                f"task prefix, e.g. '{self.config.tasks[0]} …'"
            )
        messages = []
        if self.config.system_prompt:
            messages.append({"role": "system", "content": self.config.system_prompt})
        options = options or {}
        messages += [{"role": m["role"], "content": m["content"]} for m in options.get("messages", ())]
        messages.append({"role": "user", "content": prompt})
        body: dict = {"model": self.config.model, "messages": messages}
        if self.config.temperature is not None:
            body["temperature"] = self.config.temperature
        if self.config.max_tokens is not None:
            body["max_tokens"] = self.config.max_tokens
        if self.config.logprobs:
            body["logprobs"] = True
        for key in GENERATION_OPTIONS:
            if options.get(key) is not None:
                value = options[key]
                body[key] = list(value) if isinstance(value, tuple) else value
        return body

    async def infer(self, x: InputData, ctx: Context) -> ExpertOut:
        body = self.request_body(x, ctx.options)
        stream = ctx.options.get("stream")
        if callable(stream):  # the caller relays the answer as it comes (himoe serve's stream: true)
            body["stream"] = True

            def relay(event: Any) -> None:
                text = stream_delta(event)
                if text:
                    stream(self.name, text)

            reply = await self._caller.post_json(body, ctx, on_event=relay)
        else:
            reply = await self._caller.post_json(body, ctx)
        try:
            # A server may answer a streamed request with one JSON reply all the same.
            content, usage = (
                parse_chat_stream(list(reply.events))
                if isinstance(reply, StreamedReply)
                else parse_chat_completion(reply)
            )
        except ValueError as exc:
            cause = f"malformed reply from {self._caller.target}: {exc}"
        else:
            if usage is None:
                cost = self.config.cost_units
            else:
                cost = (
                    usage[0] / 1000.0 * self.config.price_per_1k_input
                    + usage[1] / 1000.0 * self.config.price_per_1k_output
                )
            # the endpoint's own token probabilities, where it gives them, else the configured figure
            measured = logprob_confidence(list(reply.events) if isinstance(reply, StreamedReply) else reply)
            confidence = self.config.confidence if measured is None else measured
            return ExpertOut(Value.text(content), ExpertAux(cost_units=cost, confidence=confidence))
        raise ExpertFailed(self.name, cause)

    async def aclose(self) -> None:
        """Close the pooled connections of the current trio run."""
        await self._caller.aclose()
