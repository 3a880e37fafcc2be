from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from ..base_models.http.http_caller import HttpCaller
from ..base_models.http.redaction import safe_url
from ..base_models.http.retry_policy import RetryPolicy
from . import validation as v

KINDS = ("openai-chat", "json")
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")

COMMON_KEYS = (
    "kind",
    "url",
    "tasks",
    "api_key_env",
    "auth_header",
    "headers",
    "cost_units",
    "confidence",
    "max_retries",
    "backoff_base_ms",
    "backoff_max_ms",
    "max_response_bytes",
    "description",
    "domain",
)
KIND_KEYS = {
    "openai-chat": (
        "model",
        "system_prompt",
        "price_per_1k_input",
        "price_per_1k_output",
        "temperature",
        "max_tokens",
        "logprobs",
    ),
    "json": ("request_template", "response_path"),
}


def _headers_repr(headers: tuple[tuple[str, str], ...]) -> str:
    # Header values may hold tokens a user put in config: show the names only.
    return repr([name for name, _ in headers])


@attrs.frozen
class HttpExpertConfig:
    """One validated ``[plugins.himoe-http.experts.<name>]`` table.

    Build it with `HttpExpertConfig.parse(name, table)`, which rejects unknown keys, wrong types,
    bad names and non-http(s) URLs with a ConfigError naming the exact key path.
    """

    name: str
    kind: str
    url: str = attrs.field(repr=lambda url: repr(safe_url(url)))
    tasks: tuple[str, ...]
    api_key_env: str | None = None
    auth_header: str = "Authorization"
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=_headers_repr)
    cost_units: float = 1.0
    confidence: float = 0.5
    max_retries: int = 2
    backoff_base_ms: float = 50.0
    backoff_max_ms: float = 2000.0
    max_response_bytes: int = 8 * 1024 * 1024
    description: str | None = None
    domain: str = "http"
    # openai-chat
    model: str | None = None
    system_prompt: str | None = None
    price_per_1k_input: float = 0.0
    price_per_1k_output: float = 0.0
    temperature: float | None = None
    max_tokens: int | None = None
    logprobs: bool = False
    # json
    request_template: Mapping[str, Any] = attrs.field(factory=lambda: {"text": "{text}"}, hash=False)
    response_path: tuple[str, ...] | None = None

    @property
    def path(self) -> str:
        """This expert's key path in the config, for messages."""
        return v.key_path(f"{v.ROOT}.experts", self.name)

    def caller(self) -> HttpCaller:
        """The caller of this expert's endpoint, with its headers, key, retries and size limit."""
        return HttpCaller(
            self.name,
            self.url,
            headers=dict(self.headers),
            api_key_env=self.api_key_env,
            auth_header=self.auth_header,
            retry=RetryPolicy(self.max_retries, self.backoff_base_ms, self.backoff_max_ms),
            max_response_bytes=self.max_response_bytes,
        )

    @classmethod
    def parse(cls, name: str, table: Any) -> HttpExpertConfig:
        path = v.key_path(f"{v.ROOT}.experts", name)
        if not _NAME.fullmatch(name):
            raise v.fail(
                path,
                f"bad expert name {name!r}: a name is lower-case letters, digits and "
                "'_', '.', '-', starting with a letter or digit (e.g. 'local_llm')",
            )
        table = v.expect_table(path, table)

        def at(key: str) -> str:
            return v.key_path(path, key)

        kind = v.require(path, table, "kind", "'openai-chat' or 'json'")
        if kind not in KINDS:
            raise v.fail(at("kind"), f"expected 'openai-chat' or 'json', got {kind!r}")
        v.check_keys(path, table, COMMON_KEYS + KIND_KEYS[kind], f"a {kind!r} expert")

        fields: dict[str, Any] = {
            "name": name,
            "kind": kind,
            "url": v.expect_http_url(at("url"), v.require(path, table, "url", "an http(s) URL")),
            "tasks": v.expect_prefixes(
                at("tasks"), v.require(path, table, "tasks", 'a list of task prefixes such as ["chat:"]')
            ),
        }
        if "api_key_env" in table:
            fields["api_key_env"] = v.expect_env_name(at("api_key_env"), table["api_key_env"])
        if "auth_header" in table:
            if "api_key_env" not in table:
                raise v.fail(
                    at("auth_header"),
                    "needs api_key_env: the header is filled with 'Bearer <key>' read from that environment variable",
                )
            fields["auth_header"] = v.expect_header_name(at("auth_header"), table["auth_header"])
        if "headers" in table:
            headers = v.expect_headers(at("headers"), table["headers"])
            auth = fields.get("auth_header", "Authorization").lower()
            for header, _ in headers:
                if "api_key_env" in fields and header.lower() == auth:
                    raise v.fail(
                        v.key_path(at("headers"), header),
                        f"conflicts with the {fields.get('auth_header', 'Authorization')} header "
                        "filled from api_key_env",
                    )
            fields["headers"] = headers
        for key, kwargs in (
            ("cost_units", {}),
            ("confidence", {"maximum": 1.0}),
            ("backoff_base_ms", {"strictly_positive": True}),
            ("backoff_max_ms", {"strictly_positive": True}),
        ):
            if key in table:
                fields[key] = v.expect_number(at(key), table[key], **kwargs)
        if "max_retries" in table:
            fields["max_retries"] = v.expect_int(at("max_retries"), table["max_retries"], maximum=10)
        if "max_response_bytes" in table:
            fields["max_response_bytes"] = v.expect_int(
                at("max_response_bytes"), table["max_response_bytes"], minimum=1
            )
        if "description" in table:
            fields["description"] = v.expect_str(at("description"), table["description"]).strip()
        if "domain" in table:
            domain = v.expect_str(at("domain"), table["domain"])
            if not _NAME.fullmatch(domain):
                raise v.fail(at("domain"), f"expected a lower-case domain name such as 'llm', got {domain!r}")
            fields["domain"] = domain

        if kind == "openai-chat":
            fields["model"] = v.expect_str(at("model"), v.require(path, table, "model", "the model's name"))
            if "system_prompt" in table:
                fields["system_prompt"] = v.expect_str(at("system_prompt"), table["system_prompt"])
            for key in ("price_per_1k_input", "price_per_1k_output"):
                if key in table:
                    fields[key] = v.expect_number(at(key), table[key])
            if "temperature" in table:
                fields["temperature"] = v.expect_number(at("temperature"), table["temperature"], maximum=2.0)
            if "max_tokens" in table:
                fields["max_tokens"] = v.expect_int(at("max_tokens"), table["max_tokens"], minimum=1)
            if "logprobs" in table:
                if not isinstance(table["logprobs"], bool):
                    raise v.fail(at("logprobs"), f"expected true or false, got {table['logprobs']!r}")
                fields["logprobs"] = table["logprobs"]
        else:
            if "request_template" in table:
                fields["request_template"] = v.expect_template(at("request_template"), table["request_template"])
            if "response_path" in table:
                fields["response_path"] = v.expect_response_path(at("response_path"), table["response_path"])
        return cls(**fields)
