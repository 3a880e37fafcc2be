from __future__ import annotations

from typing import Any

from himoe_core import Context, ExpertAux, ExpertFailed, ExpertOut, InputData, InvalidInput, Value

from ...base_models.http.redaction import safe_url
from ...config.http_expert_config import HttpExpertConfig
from ...task_prefixes import matching_prefix, strip_prefix
from ...templates import extract_path, render_template


class JsonHttpExpert:
    """Calls a JSON HTTP API declared in config: POSTs a rendered template, returns its reply."""

    def __init__(self, config: HttpExpertConfig) -> None:
        if config.kind != "json":
            raise ValueError(f"JsonHttpExpert needs a 'json' config, got kind {config.kind!r}")
        self.config = config
        self.name = config.name
        self.domain = config.domain
        self.cost_units = config.cost_units
        self.description = config.description or f"JSON API at {safe_url(config.url)}"
        self.example = f"{config.tasks[0]} hello"
        self.handles = tuple(config.tasks)  # its task prefixes, looked up by routers
        self._caller = config.caller()

    def __repr__(self) -> str:
        return f"JsonHttpExpert(name={self.name!r}, url={safe_url(self.config.url)!r}, api_key_env={self.config.api_key_env!r})"

    def can_handle(self, task: str) -> bool:
        return matching_prefix(task, self.config.tasks) is not None

    def request_body(self, x: InputData) -> Any:
        """The rendered request template: "{text}" is the input text without its task prefix,
        "{task}" the request's task hint, else the prefix the text started with, else ""."""
        text = x.as_text()
        if text is None:
            raise InvalidInput(f"expert {self.name!r} takes text input, got {x.kind.value}; send text")
        task = x.task or matching_prefix(text, self.config.tasks) or ""
        values = {"text": strip_prefix(text, self.config.tasks), "task": task}
        return render_template(self.config.request_template, values)

    async def infer(self, x: InputData, ctx: Context) -> ExpertOut:
        reply = await self._caller.post_json(self.request_body(x), ctx)
        aux = ExpertAux(cost_units=self.config.cost_units, confidence=self.config.confidence)
        if self.config.response_path is None:
            return ExpertOut(_as_value(reply), aux)
        try:
            value = extract_path(reply, self.config.response_path)
        except ValueError as exc:
            cause = (
                f"malformed reply from {self._caller.target}: response_path "
                f"{'.'.join(self.config.response_path)!r} not found: {exc}"
            )
        else:
            return ExpertOut(_as_value(value), aux)
        raise ExpertFailed(self.name, cause)

    async def aclose(self) -> None:
        """Close the pooled connections of the current trio run."""
        await self._caller.aclose()


def _as_value(data: Any) -> Value:
    """A string as Text, null as None, anything else as Json."""
    if isinstance(data, str):
        return Value.text(data)
    if data is None:
        return Value.none()
    return Value.json(data)
