"""Reading and checking the himoe TOML config: every error names the key and the bad value."""

from __future__ import annotations

import copy
import math
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .._errors import ConfigError
from .._input import InputKind, InputLimits
from .._orchestrator.route_rule import RouteRule
from ..state.state_location import check_state_url, redact_url
from ..state.state_schema import (
    DEFAULT_FLUSH_EVERY,
    DEFAULT_FLUSH_S,
    DEFAULT_MAX_TRACES,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_REWARD_WINDOW_S,
)

DEFAULT_BUDGET_MS = 1000.0
MAX_DEPTH = 32
"""How deeply a config may nest tables and arrays."""

HIMOE_KEYS = {
    "budget_ms",
    "cost_budget",
    "trace_capacity",
    "trace_candidates",
    "chain_plans",
    "max_chain_depth",
    "plugins_dir",
    "max_in_flight",
}
ROUTER_COMMON_KEYS = {"kind", "experts", "k", "aggregator", "gating", "encoder"}
GATING_KEYS = {"temperature", "epsilon", "seed"}
TOP_KEYS = {"himoe", "limits", "routers", "orchestrator", "plugins", "state", "serve"}
STATE_KEYS = {
    "enabled",
    "path",
    "url",
    "flush_every",
    "flush_s",
    "feedback_wait_s",
    "retention_days",
    "max_traces",
    "reward_window_s",
    "default_reward",
    "replica",
    "learning",
    "sync_s",
}
MAX_RETENTION_DAYS = 36_500_000.0
MAX_TRACES_LIMIT = 2**53
RULE_KEYS = {"router", "task_prefix", "input", "fallbacks", "shadows"}
SERVE_KEYS = {
    "host",
    "port",
    "keys_file",
    "max_body_bytes",
    "max_in_flight",
    "body_timeout_s",
    "otel",
    "otel_exporter",
    "allow_public_without_keys",
}
OTEL_EXPORTERS = ("console", "otlp")

DEFAULT_ROUTER = {"kind": "static", "experts": ["*"], "k": 2, "aggregator": "confidence"}


def load_config(source: str | os.PathLike[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """A checked copy of the config: from a TOML file path, a dict, or None for the defaults.

    With no `[routers]` table, one router `default` (static gate, every installed expert, k=2,
    confidence aggregator) serves every request.
    """
    if source is None:
        raw: dict[str, Any] = {}
    elif isinstance(source, Mapping):
        _check_depth(source, "the config")
        raw = copy.deepcopy(dict(source))
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {str(path)!r}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
        except OSError as exc:  # a folder, no permission, …
            raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror or exc}") from None
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
        except RecursionError:
            raise ConfigError(
                f"config file {str(path)!r} nests arrays or tables more than {MAX_DEPTH} levels deep"
            ) from None
        _check_depth(raw, f"config file {str(path)!r}")
    # Another top-level table may belong to a plugin (`[ray]`): the PluginHost checks that a
    # loaded plugin claims it (hook register_config_tables) once the plugins are loaded.
    _no_unknown({key: value for key, value in raw.items() if not isinstance(value, dict)}, TOP_KEYS, "")
    himoe = _table(raw, "himoe")
    _no_unknown(himoe, HIMOE_KEYS, "himoe.")
    himoe["budget_ms"] = number(himoe.get("budget_ms", DEFAULT_BUDGET_MS), "himoe.budget_ms", minimum=0.0)
    if not math.isfinite(himoe["budget_ms"]):
        raise ConfigError(f"himoe.budget_ms: expected a finite number of milliseconds, got {himoe['budget_ms']!r}")
    himoe["cost_budget"] = number(himoe.get("cost_budget", math.inf), "himoe.cost_budget", minimum=0.0)
    himoe["trace_capacity"] = integer(himoe.get("trace_capacity", 10_000), "himoe.trace_capacity", minimum=1)
    himoe["trace_candidates"] = integer(himoe.get("trace_candidates", 16), "himoe.trace_candidates", minimum=1)
    himoe["chain_plans"] = boolean(himoe.get("chain_plans", False), "himoe.chain_plans")
    himoe["max_chain_depth"] = integer(himoe.get("max_chain_depth", 1), "himoe.max_chain_depth", minimum=0)
    if himoe.get("max_in_flight") != "auto":
        try:
            himoe["max_in_flight"] = integer(himoe.get("max_in_flight", 0), "himoe.max_in_flight", minimum=0)
        except ConfigError:
            raise ConfigError(
                f'himoe.max_in_flight: expected "auto" or an integer >= 0 (0: no limit), got {himoe["max_in_flight"]!r}'
            ) from None
    if "plugins_dir" in himoe and (not isinstance(himoe["plugins_dir"], str) or not himoe["plugins_dir"]):
        raise ConfigError(f"himoe.plugins_dir: expected a folder path, got {himoe['plugins_dir']!r}")
    raw["himoe"] = himoe
    if isinstance(raw.get("limits"), InputLimits):  # an already checked config, loaded again
        raw["limits"] = attrs.asdict(raw["limits"])
    limits = _table(raw, "limits")
    _no_unknown(limits, {field.name for field in attrs.fields(InputLimits)}, "limits.")
    try:
        raw["limits"] = InputLimits(**limits)
    except ValueError as exc:
        raise ConfigError(f"limits: {exc}") from None
    routers = _table(raw, "routers") or {"default": dict(DEFAULT_ROUTER)}
    for router_id, table in routers.items():
        if not router_id.isprintable():  # it is shown in messages, traces and `himoe stats`
            raise ConfigError(
                f"{key_path('routers', router_id)}: a router id is one line of printable characters, such as 'fast'"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{key_path('routers', router_id)}: expected a table, got {table!r}")
        _check_router(router_id, table)
    raw["routers"] = routers
    raw["orchestrator"] = _table(raw, "orchestrator")
    raw["plugins"] = _table(raw, "plugins")
    state = _table(raw, "state")
    _no_unknown(state, STATE_KEYS, "state.")
    state["enabled"] = boolean(state.get("enabled", True), "state.enabled")
    state["flush_every"] = integer(state.get("flush_every", DEFAULT_FLUSH_EVERY), "state.flush_every", minimum=1)
    state["flush_s"] = _seconds(state.get("flush_s", DEFAULT_FLUSH_S), "state.flush_s", minimum=0.001)
    if "feedback_wait_s" in state:  # its default depends on the store: see FeedbackTrainer
        state["feedback_wait_s"] = _seconds(state["feedback_wait_s"], "state.feedback_wait_s", minimum=0)
    state["retention_days"] = number(
        state.get("retention_days", DEFAULT_RETENTION_DAYS), "state.retention_days", minimum=0
    )
    if state["retention_days"] > MAX_RETENTION_DAYS:
        raise ConfigError(
            f"state.retention_days: expected at most {MAX_RETENTION_DAYS:.0f} days (0 keeps traces "
            f"whatever their age), got {state['retention_days']!r}"
        )
    state["max_traces"] = integer(state.get("max_traces", DEFAULT_MAX_TRACES), "state.max_traces", minimum=0)
    if state["max_traces"] > MAX_TRACES_LIMIT:
        raise ConfigError(
            f"state.max_traces: expected at most {MAX_TRACES_LIMIT} (0 keeps any number of traces), "
            f"got {state['max_traces']!r}"
        )
    if "path" in state and (not isinstance(state["path"], str) or not state["path"]):
        raise ConfigError(f"state.path: expected a file path (or ':memory:'), got {state['path']!r}")
    if "url" in state:
        if "path" in state:
            raise ConfigError(
                "state: give either url (a PostgreSQL database) or path (an SQLite file), not both; "
                f"url is {redact_url(state['url']) if isinstance(state['url'], str) else state['url']!r}"
            )
        state["url"] = check_state_url(state["url"], "state.url")
    state["reward_window_s"] = number(
        state.get("reward_window_s", DEFAULT_REWARD_WINDOW_S), "state.reward_window_s", minimum=0
    )
    if "default_reward" in state:
        state["default_reward"] = number(state["default_reward"], "state.default_reward", minimum=0)
        if state["default_reward"] > 1:
            raise ConfigError(
                f"state.default_reward: expected a reward from 0 to 1 (given once a decision's reward window "
                f"passes without feedback), got {state['default_reward']!r}"
            )
    if "replica" in state and (not isinstance(state["replica"], str) or not state["replica"].isprintable()):
        raise ConfigError(
            f"state.replica: expected a name for this process in the decision log, such as 'web-1', "
            f"got {state['replica']!r}"
        )
    learning = state.get("learning", "inline")
    if learning not in ("inline", "learner"):
        raise ConfigError(
            f"state.learning: expected 'inline' (each process learns from the feedback it gets) or "
            f"'learner' (processes log, `himoe learn` trains), got {learning!r}"
        )
    state["learning"] = learning
    state["sync_s"] = number(state.get("sync_s", 2.0), "state.sync_s", minimum=0.01)
    raw["state"] = state
    raw["serve"] = _serve_table(raw)
    # Not resolve(): a symlinked config means the folder it is linked from, as a shell would.
    _resolve_paths(raw, Path(os.path.abspath(source)).parent if isinstance(source, (str, os.PathLike)) else None)
    return raw


def _resolve_paths(raw: dict[str, Any], folder: Path | None) -> None:
    """`~` expanded; relative paths in a config file mean relative to the file, as in mkdocs.yml
    or a compose file: the same config then works from whatever directory himoe is started in."""
    for table, key in ((raw["state"], "path"), (raw["himoe"], "plugins_dir"), (raw["serve"], "keys_file")):
        if key not in table or table[key] == ":memory:":
            continue
        try:
            path = Path(table[key]).expanduser()
        except RuntimeError as exc:  # ~someone who does not exist
            where = {"path": "state.path", "plugins_dir": "himoe.plugins_dir", "keys_file": "serve.keys_file"}[key]
            raise ConfigError(f"{where}: cannot expand {table[key]!r}: {exc}") from None
        table[key] = str(folder / path if folder is not None else path)


def _check_depth(value: Any, what: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH (no config needs it, and every reader of the config
    — deepcopy, plugins, JSON — would recurse that deep). Iterative, so it cannot overflow."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children = list(item.values())
        elif isinstance(item, (list, tuple)):
            children = list(item)
        else:
            continue
        if depth > MAX_DEPTH:
            raise ConfigError(f"{what} nests arrays or tables more than {MAX_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in children)


def key_path(prefix: str, key: Any) -> str:
    """`prefix.key`, the key quoted unless a TOML bare key: a stray "\n" or " " must show in the
    one-line message rather than break it."""
    shown = key if isinstance(key, str) and _BARE_KEY.fullmatch(key) else repr(key)
    return f"{prefix}.{shown}" if prefix else shown


def _serve_table(raw: dict[str, Any]) -> dict[str, Any]:
    """`[serve]`, the settings of `himoe serve` (checked here, so that a typo fails before the
    server's own distribution is even imported)."""
    serve = _table(raw, "serve")
    _no_unknown(serve, SERVE_KEYS, "serve.")
    host = serve.setdefault("host", "127.0.0.1")
    if not isinstance(host, str) or not host or any(c.isspace() for c in host):
        raise ConfigError(f"serve.host: expected an address to listen on such as '127.0.0.1', got {host!r}")
    serve["port"] = integer(serve.get("port", 8000), "serve.port", minimum=0)
    if serve["port"] > 65535:
        raise ConfigError(f"serve.port: expected a TCP port 0..65535 (0: any free port), got {serve['port']!r}")
    if "keys_file" in serve and (not isinstance(serve["keys_file"], str) or not serve["keys_file"]):
        raise ConfigError(f"serve.keys_file: expected a file path, got {serve['keys_file']!r}")
    serve["max_body_bytes"] = integer(serve.get("max_body_bytes", 1 << 20), "serve.max_body_bytes", minimum=1)
    serve["max_in_flight"] = integer(serve.get("max_in_flight", 0), "serve.max_in_flight", minimum=0)
    serve["body_timeout_s"] = _seconds(serve.get("body_timeout_s", 10.0), "serve.body_timeout_s", minimum=0.001)
    serve["otel"] = boolean(serve.get("otel", False), "serve.otel")
    exporter = serve.setdefault("otel_exporter", "console")
    if exporter not in OTEL_EXPORTERS:
        raise ConfigError(f"serve.otel_exporter: expected one of {', '.join(OTEL_EXPORTERS)}, got {exporter!r}")
    serve["allow_public_without_keys"] = boolean(
        serve.get("allow_public_without_keys", False), "serve.allow_public_without_keys"
    )
    return serve


def _check_router(router_id: str, table: dict[str, Any]) -> None:
    where = key_path("routers", router_id)
    for key, default in (("kind", "static"), ("aggregator", "best_score")):
        name = table.setdefault(key, default)
        if not isinstance(name, str) or not name:
            raise ConfigError(
                f"{where}.{key}: expected the name of {'a router kind' if key == 'kind' else 'an aggregator'}, got {name!r}"
            )
    experts = table.setdefault("experts", ["*"])
    if isinstance(experts, str):
        experts = table["experts"] = [experts]
    if not isinstance(experts, list) or not experts or not all(isinstance(e, str) and e for e in experts):
        raise ConfigError(
            f"{where}.experts: expected a non-empty list of expert names, 'domain:<d>', "
            f"'plugin:<dist>', '<prefix>*' or '*', got {experts!r}"
        )
    table["k"] = integer(table.get("k", 1), f"{where}.k", minimum=1)
    gating = table.get("gating", {})
    if not isinstance(gating, dict):
        raise ConfigError(f"{where}.gating: expected a table, got {gating!r}")
    _no_unknown(gating, GATING_KEYS, f"{where}.gating.")


def parse_rules(rules: Any) -> list[RouteRule]:
    if not isinstance(rules, list):
        raise ConfigError(f"orchestrator.rules: expected an array of tables, got {rules!r}")
    parsed = []
    for index, rule in enumerate(rules):
        where = f"orchestrator.rules[{index}]"
        if not isinstance(rule, dict):
            raise ConfigError(f"{where}: expected a table, got {rule!r}")
        _no_unknown(rule, RULE_KEYS, where + ".")
        if not isinstance(rule.get("router"), str):
            raise ConfigError(f"{where}.router: expected a router id, got {rule.get('router')!r}")
        kind = rule.get("input")
        if kind is not None:
            try:
                kind = InputKind(kind)
            except ValueError:
                raise ConfigError(f"{where}.input: expected 'text', 'bytes' or 'features', got {kind!r}") from None
        prefix = rule.get("task_prefix")
        if prefix is not None and (not isinstance(prefix, str) or not prefix):
            raise ConfigError(f"{where}.task_prefix: expected a non-empty string, got {prefix!r}")
        for key in ("fallbacks", "shadows"):
            names = rule.get(key, [])
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ConfigError(f"{where}.{key}: expected a list of router ids, got {names!r}")
        parsed.append(RouteRule(rule["router"], prefix, kind, rule.get("fallbacks", []), rule.get("shadows", [])))
    return parsed


def number(value: Any, where: str, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    try:
        as_float = float(value)
    except OverflowError:  # an integer beyond float range
        as_float = math.inf if value > 0 else -math.inf
    if math.isnan(as_float):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if minimum is not None and as_float < minimum:
        raise ConfigError(f"{where}: expected a number >= {minimum:g}, got {value!r}")
    return as_float


def _seconds(value: Any, where: str, *, minimum: float) -> float:
    """A duration a thread waits for: at most an hour (an infinite one cannot be waited on)."""
    seconds = number(value, where, minimum=minimum)
    if seconds > 3600:
        raise ConfigError(f"{where}: expected at most 3600 seconds, got {value!r}")
    return seconds


def integer(value: Any, where: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{where}: expected an integer >= {minimum}, got {value!r}")
    return value


def boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def _table(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a table, got {value!r}")
    return dict(value)


def _no_unknown(table: Mapping[str, Any], known: set[str], prefix: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        key = unknown[0]  # quoted unless a TOML bare key: a stray "\n" or " " must show in the one-line message
        shown = key if _BARE_KEY.fullmatch(key) else repr(key)
        raise ConfigError(f"{prefix}{shown}: unknown key; known keys here: {', '.join(sorted(known))}")


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
