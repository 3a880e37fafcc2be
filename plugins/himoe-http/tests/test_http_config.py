"""Strict config validation: every error is a ConfigError naming the exact key path."""

from __future__ import annotations

import tomllib

import himoe_http.plugin as http_plugin
import pytest
from himoe_http import HttpExpertConfig, HttpPluginConfig, JsonHttpExpert, OpenAIChatExpert

from himoe_core import ConfigError
from himoe_core.plugins import PluginHost

EXAMPLE = """
[plugins.himoe-http.experts.local_llm]
kind = "openai-chat"
url = "http://127.0.0.1:8080/v1/chat/completions"
model = "llama-3-8b"
api_key_env = "LOCAL_LLM_KEY"
tasks = ["chat:", "ask:"]
price_per_1k_input = 0.5
price_per_1k_output = 1.5
system_prompt = "You are helpful."
max_retries = 2
cost_units = 1.0

[plugins.himoe-http.experts.sentiment_api]
kind = "json"
url = "http://127.0.0.1:8081/classify"
tasks = ["sentiment:"]
request_template = { text = "{text}" }
response_path = "label"
headers = { "X-Client" = "himoe" }
auth_header = "Authorization"
api_key_env = "SENTIMENT_KEY"
cost_units = 0.2
"""


def plugin_table(toml_text=EXAMPLE):
    return tomllib.loads(toml_text)["plugins"]["himoe-http"]


def experts_table(**experts):
    return {"experts": experts}


def test_http_config_example_parses_into_both_kinds():
    config = HttpPluginConfig.parse(plugin_table())
    llm, api = config.experts
    assert llm == HttpExpertConfig(
        name="local_llm",
        kind="openai-chat",
        url="http://127.0.0.1:8080/v1/chat/completions",
        tasks=("chat:", "ask:"),
        api_key_env="LOCAL_LLM_KEY",
        cost_units=1.0,
        max_retries=2,
        model="llama-3-8b",
        system_prompt="You are helpful.",
        price_per_1k_input=0.5,
        price_per_1k_output=1.5,
    )
    assert api.kind == "json" and api.response_path == ("label",)
    assert api.request_template == {"text": "{text}"} and api.headers == (("X-Client", "himoe"),)
    experts = config.build_experts()
    assert [type(e) for e in experts] == [OpenAIChatExpert, JsonHttpExpert]
    assert [e.name for e in experts] == ["local_llm", "sentiment_api"]
    assert experts[1].cost_units == 0.2


def test_http_config_registers_through_the_plugin_host():
    host = PluginHost(
        plugins=[http_plugin],
        entry_points=False,
        strict=True,
        config={"plugins": {"http_plugin_module": plugin_table()}},
    )
    # The host hands each plugin the table under its own name: here the module's name.
    assert host.expert_infos() == []
    host = PluginHost(
        plugins=[http_plugin],
        entry_points=False,
        strict=True,
        config={"plugins": {http_plugin.__name__: plugin_table()}},
    )
    infos = {info.name: info for info in host.expert_infos()}
    assert set(infos) == {"local_llm", "sentiment_api"}
    assert infos["local_llm"].domain == "http"
    assert infos["local_llm"].description == "chat model 'llama-3-8b' at http://127.0.0.1:8080/v1/chat/completions"


@pytest.mark.parametrize("config", [None, {}, {"experts": {}}])
def test_http_config_without_experts_registers_nothing(config):
    registered = []
    http_plugin.register_experts(registered.append, config)
    assert registered == []


@pytest.mark.parametrize("strict", [True, False])
def test_http_config_error_is_a_config_error_naming_the_key_in_any_mode(strict):
    # A bad config is the user's mistake, not a broken plugin: it is never downgraded to a warning.
    bad = experts_table(x={"kind": "json", "url": "ftp://x", "tasks": ["a:"]})
    warnings = []
    with pytest.raises(ConfigError, match=r"plugins\.himoe-http\.experts\.x\.url: expected an http\(s\) URL"):
        PluginHost(
            plugins=[http_plugin],
            entry_points=False,
            strict=strict,
            warn=warnings.append,
            config={"plugins": {http_plugin.__name__: bad}},
        )
    assert warnings == []


OK = {"kind": "openai-chat", "url": "http://127.0.0.1:8080/v1/chat/completions", "model": "m", "tasks": ["chat:"]}
OK_JSON = {"kind": "json", "url": "https://api.example.test/classify", "tasks": ["sentiment:"]}
P = "plugins.himoe-http.experts.local_llm"


@pytest.mark.parametrize(
    "table, message",
    [
        ({**OK, "url": "ftp://x"}, f"{P}.url: expected an http(s) URL, got 'ftp://x'"),
        ({**OK, "url": "127.0.0.1:8080"}, f"{P}.url: expected an http(s) URL, got '127.0.0.1:8080'"),
        ({**OK, "url": "http://"}, f"{P}.url: expected an http(s) URL, got 'http://'"),
        ({**OK, "url": "http://host:99999/x"}, f"{P}.url: expected an http(s) URL, got 'http://host:99999/x'"),
        ({**OK, "url": "http://a b/"}, f"{P}.url: expected an http(s) URL, got 'http://a b/'"),
        ({**OK, "url": 8080}, f"{P}.url: expected an http(s) URL, got int 8080"),
        ({**OK, "url": "http://user:pw@host/"}, f"{P}.url: credentials in the URL are not allowed"),
        ({k: v for k, v in OK.items() if k != "url"}, f"{P}.url: required key is missing"),
        ({k: v for k, v in OK.items() if k != "kind"}, f"{P}.kind: required key is missing"),
        ({**OK, "kind": "grpc"}, f"{P}.kind: expected 'openai-chat' or 'json', got 'grpc'"),
        ({k: v for k, v in OK.items() if k != "model"}, f"{P}.model: required key is missing"),
        ({k: v for k, v in OK.items() if k != "tasks"}, f"{P}.tasks: required key is missing"),
        ({**OK, "modle": "m"}, f"{P}.modle: unknown key for a 'openai-chat' expert; did you mean 'model'?"),
        ({**OK, "response_path": "a"}, f"{P}.response_path: unknown key for a 'openai-chat' expert"),
        ({**OK, "tasks": "chat:"}, f"{P}.tasks: expected a non-empty list of task prefixes"),
        ({**OK, "tasks": []}, f"{P}.tasks: expected a non-empty list of task prefixes"),
        ({**OK, "tasks": ["chat:", 3]}, f"{P}.tasks[1]: expected a non-empty string, got int 3"),
        ({**OK, "tasks": ["  "]}, f"{P}.tasks[0]: expected a non-empty string"),
        ({**OK, "model": 3}, f"{P}.model: expected a string, got int 3"),
        ({**OK, "model": ""}, f"{P}.model: expected a non-empty string, got ''"),
        ({**OK, "max_retries": 2.5}, f"{P}.max_retries: expected an integer, got float 2.5"),
        ({**OK, "max_retries": True}, f"{P}.max_retries: expected an integer, got bool True"),
        ({**OK, "max_retries": -1}, f"{P}.max_retries: expected an integer in [0, 10], got -1"),
        ({**OK, "max_retries": 11}, f"{P}.max_retries: expected an integer in [0, 10], got 11"),
        ({**OK, "cost_units": "1"}, f"{P}.cost_units: expected a number, got str '1'"),
        ({**OK, "cost_units": -0.5}, f"{P}.cost_units: expected a number >= 0, got -0.5"),
        ({**OK, "cost_units": float("inf")}, f"{P}.cost_units: expected a number, got float inf"),
        ({**OK, "price_per_1k_input": -1}, f"{P}.price_per_1k_input: expected a number >= 0, got -1"),
        ({**OK, "price_per_1k_output": "x"}, f"{P}.price_per_1k_output: expected a number, got str 'x'"),
        ({**OK, "confidence": 1.5}, f"{P}.confidence: expected a number in [0, 1], got 1.5"),
        ({**OK, "temperature": 3}, f"{P}.temperature: expected a number in [0, 2], got 3"),
        ({**OK, "max_tokens": 0}, f"{P}.max_tokens: expected an integer >= 1, got 0"),
        ({**OK, "backoff_base_ms": 0}, f"{P}.backoff_base_ms: expected a number > 0, got 0"),
        ({**OK, "max_response_bytes": 0}, f"{P}.max_response_bytes: expected an integer >= 1, got 0"),
        ({**OK, "system_prompt": ["a"]}, f"{P}.system_prompt: expected a string, got list ['a']"),
        (
            {**OK, "api_key_env": "sk-abc123"},
            f"{P}.api_key_env: expected the name of an environment variable such as 'LOCAL_LLM_KEY'",
        ),
        ({**OK, "auth_header": "X-Key"}, f"{P}.auth_header: needs api_key_env"),
        (
            {**OK, "api_key_env": "K", "auth_header": "Bad Header"},
            f"{P}.auth_header: expected an HTTP header name such as 'Authorization', got 'Bad Header'",
        ),
        ({**OK, "headers": ["X-Client"]}, f"{P}.headers: expected a table, got list ['X-Client']"),
        ({**OK, "headers": {"X-Client": 1}}, f"{P}.headers.X-Client: expected a string, got a value of type int"),
        ({**OK, "headers": {"Bad Name": "v"}}, f'{P}.headers."Bad Name": not a valid HTTP header name'),
        ({**OK, "headers": {"X-A": "a\nb"}}, f"{P}.headers.X-A: a header value cannot contain line breaks"),
        (
            {**OK, "api_key_env": "K", "headers": {"authorization": "Bearer x"}},
            f"{P}.headers.authorization: conflicts with the Authorization header filled from api_key_env",
        ),
        ({**OK, "domain": "Big Domain"}, f"{P}.domain: expected a lower-case domain name"),
        ({**OK_JSON, "model": "m"}, f"{P}.model: unknown key for a 'json' expert"),
        ({**OK_JSON, "request_template": "text"}, f"{P}.request_template: expected a table, got str 'text'"),
        (
            {**OK_JSON, "request_template": {"a": {"b": ["{txt}"]}}},
            f"{P}.request_template.a.b[0]: unknown placeholder {{txt}}; only {{text}} and {{task}} are substituted",
        ),
        ({**OK_JSON, "request_template": {"n": float("nan")}}, f"{P}.request_template.n: expected a finite number"),
        ({**OK_JSON, "response_path": "a..b"}, f"{P}.response_path: expected a dot path"),
        ({**OK_JSON, "response_path": 3}, f"{P}.response_path: expected a string, got int 3"),
    ],
)
def test_http_config_rejects_bad_values_naming_the_key(table, message):
    with pytest.raises(ConfigError) as info:
        HttpPluginConfig.parse(experts_table(local_llm=table))
    assert str(info.value).startswith(message), str(info.value)


def test_http_config_datetime_in_template_is_rejected():
    config = plugin_table(
        '[plugins.himoe-http.experts.a]\nkind = "json"\nurl = "http://h/"\ntasks = ["a:"]\n'
        "request_template = { when = 1979-05-27T07:32:00Z }\n"
    )
    with pytest.raises(
        ConfigError,
        match=r"^plugins\.himoe-http\.experts\.a\.request_template\.when: "
        r"expected a JSON value .*got datetime",
    ):
        HttpPluginConfig.parse(config)


@pytest.mark.parametrize(
    "config, message",
    [
        ({"expert": {}}, "plugins.himoe-http.expert: unknown key for the himoe-http plugin; did you mean 'experts'?"),
        ({"experts": []}, "plugins.himoe-http.experts: expected a table, got list []"),
        ([], "plugins.himoe-http: expected a table, got list []"),
        (experts_table(**{"Local LLM": OK}), "plugins.himoe-http.experts.\"Local LLM\": bad expert name 'Local LLM'"),
        (experts_table(_x=OK), "plugins.himoe-http.experts._x: bad expert name '_x'"),
        (experts_table(llm="http://x"), "plugins.himoe-http.experts.llm: expected a table, got str 'http://x'"),
    ],
)
def test_http_config_rejects_bad_structure(config, message):
    with pytest.raises(ConfigError) as info:
        HttpPluginConfig.parse(config)
    assert str(info.value).startswith(message), str(info.value)


def test_http_config_repr_shows_header_names_not_values():
    config = HttpExpertConfig.parse("a", {**OK_JSON, "headers": {"X-Tenant-Token": "tenant-secret-value"}})
    assert "X-Tenant-Token" in repr(config) and "tenant-secret-value" not in repr(config)
    [expert] = HttpPluginConfig.parse(experts_table(a={**OK_JSON, "headers": {"X-T": "secret-v"}})).build_experts()
    assert "secret-v" not in repr(expert) and "secret-v" not in repr(expert._caller)
