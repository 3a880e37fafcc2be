"""docs/configuration.md documents every key the config accepts, in the right section, with
the right default, and no key that does not exist.

The keys come from the code: config_parsing's key sets, InputLimits' fields, RulesOrchestrator's
and each built-in router kind's constructor keywords (inherited ones included), and the built-in
encoders' fields. Sections are found by their heading anchors (`{#himoe}`, `{#linucb}`, …)."""

from __future__ import annotations

import importlib
import inspect
import math
import re
import tomllib
from pathlib import Path

import attrs
import pytest

from himoe_core._config import config_parsing
from himoe_core._config.config_parsing import load_config
from himoe_core.plugins.default_plugin import ROUTER_CLASSES
from himoe_core.routing import FeaturesEncoder, HashingEncoder, InputLimits, RulesOrchestrator

CONFIG_MD = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
HEADING = re.compile(r"^(#{2,4}) .*?\{#(?P<anchor>[\w-]+)\}\s*$")

# Constructor keywords that are not config keys: the engine supplies them.
ENGINE_SUPPLIED = {
    "id": "the router's id is the name of its [routers.<id>] table",
    "stats": "the ExpertStats the engine shares between routers",
    "policy": "built from the `gating` table",
    "routers": "the orchestrator receives the configured routers",
}


def sections() -> dict[str, str]:
    """Anchor → the text of that section, up to the next anchored heading (fences respected)."""
    found: dict[str, list[str]] = {}
    current = None
    fenced = False
    for line in CONFIG_MD.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        match = HEADING.match(line) if not fenced else None
        if match:
            current = match.group("anchor")
            found[current] = []
        elif current is not None:
            found[current].append(line)
    return {anchor: "\n".join(lines) for anchor, lines in found.items()}


def backticked(text: str) -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", text))


def table_rows(text: str) -> list[dict[str, str]]:
    """Rows of every `| key | … | default | … |` table in `text`, as header → cell."""
    rows = []
    header = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = [cell.lower() for cell in cells]
        elif not set(line) <= set("|- "):
            rows.append(dict(zip(header, cells)))
    return [row for row in rows if "key" in row]


def row_key(row: dict[str, str]) -> str:
    match = re.fullmatch(r"`([a-z_][a-z0-9_]*)`", row["key"])
    assert match, f"docs/configuration.md: key cell {row['key']!r} should be one `key`"
    return match.group(1)


def constructor_keywords(cls: type) -> dict[str, object]:
    """Keyword parameters of `cls.__init__` and of every base it forwards `**options` to."""
    keywords: dict[str, object] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        for name, parameter in inspect.signature(init).parameters.items():
            if parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD) and name != "self":
                keywords.setdefault(name, parameter.default)
    return keywords


def router_classes() -> dict[str, type]:
    classes = {}
    for kind, target in ROUTER_CLASSES.items():
        module, name = target.split(":")
        classes[kind] = getattr(importlib.import_module(f"himoe_core._router.{module}"), name)
    return classes


SECTIONS = sections()
ROUTERS = router_classes()
CHECKED = load_config(None)


def expected_keys() -> dict[str, dict[str, object]]:
    """Section anchor → {key: default} (default `...` when the code has none to compare)."""
    limits = {f.name: f.default for f in attrs.fields(InputLimits)}
    expected = {
        "himoe": {key: CHECKED["himoe"].get(key) for key in config_parsing.HIMOE_KEYS},
        "limits": limits,
        "routers": dict.fromkeys(config_parsing.ROUTER_COMMON_KEYS, ...),
        "gating": dict.fromkeys(config_parsing.GATING_KEYS, ...),
        "rules": dict.fromkeys(config_parsing.RULE_KEYS, ...),
        "state": {key: CHECKED["state"].get(key) for key in config_parsing.STATE_KEYS},
        "serve": {key: CHECKED["serve"].get(key) for key in config_parsing.SERVE_KEYS},
        "orchestrator": {
            "kind": "rules",
            **{
                name: default
                for name, default in constructor_keywords(RulesOrchestrator).items()
                if name not in ENGINE_SUPPLIED
            },
        },
        "encoder-hashing": {f.name: f.default for f in attrs.fields(HashingEncoder)},
        "encoder-features": {f.name: f.default for f in attrs.fields(FeaturesEncoder)},
    }
    expected["routers"].update({"kind": "static", "k": 1, "aggregator": "best_score", "experts": ["*"]})
    for kind, cls in ROUTERS.items():
        expected[kind] = {
            name: default
            for name, default in constructor_keywords(cls).items()
            if name not in ENGINE_SUPPLIED and name not in config_parsing.ROUTER_COMMON_KEYS
        }
    return expected


EXPECTED = expected_keys()


def test_the_sections_exist_and_the_keys_are_found():
    assert set(EXPECTED) <= set(SECTIONS), (
        f"docs/configuration.md lacks sections {sorted(set(EXPECTED) - set(SECTIONS))}"
    )
    assert {"budget_ms", "plugins_dir"} <= set(EXPECTED["himoe"])
    assert {"alpha", "ridge", "cost_weight", "min_quality", "min_pulls"} <= set(EXPECTED["hybrid"])
    assert {"lr", "l2", "load_balance", "entropy", "window", "cost_weight"} <= set(EXPECTED["linear"])
    assert {"shadow_min_remaining_ms", "promote_shadows", "promotion_min_evidence"} <= set(EXPECTED["orchestrator"])


def test_every_top_level_table_is_documented():
    text = CONFIG_MD.read_text(encoding="utf-8")
    for table in config_parsing.TOP_KEYS:
        assert f"`[{table}" in text, f"docs/configuration.md: table [{table}] is not documented"


@pytest.mark.parametrize("section", sorted(EXPECTED))
def test_every_accepted_key_is_documented_in_its_section(section):
    missing = sorted(set(EXPECTED[section]) - backticked(SECTIONS.get(section, "")))
    assert not missing, f"docs/configuration.md, section {{#{section}}}: keys not documented: {missing}"


@pytest.mark.parametrize("section", sorted(EXPECTED))
def test_no_documented_key_is_unknown_to_the_code(section):
    documented = [row_key(row) for row in table_rows(SECTIONS.get(section, ""))]
    unknown = sorted(set(documented) - set(EXPECTED[section]))
    assert not unknown, f"docs/configuration.md, section {{#{section}}}: keys the code does not accept: {unknown}"


def _literal(cell: str) -> object:
    """The first `literal` of a default cell as a Python value, or `...` when there is none."""
    match = re.search(r"`([^`]+)`", cell)
    if not match:
        return ...
    text = match.group(1)
    if text == "inf":
        return math.inf
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return ...


def _same(documented: object, actual: object) -> bool:
    if isinstance(actual, tuple):
        actual = list(actual)
    if isinstance(actual, bool) or isinstance(documented, bool):
        return documented is actual
    if isinstance(actual, (int, float)) and isinstance(documented, (int, float)):
        return math.isclose(documented, actual) or documented == actual
    return documented == actual


@pytest.mark.parametrize("section", sorted(EXPECTED))
def test_documented_defaults_are_the_code_defaults(section):
    checked = 0
    for row in table_rows(SECTIONS.get(section, "")):
        key = row_key(row)
        actual = EXPECTED[section].get(key, ...)
        if "default" not in row or actual is ... or actual is inspect.Parameter.empty:
            continue
        documented = _literal(row["default"])
        if actual is None or actual is attrs.NOTHING:  # "none", "required", or an empty table/list
            assert documented in (..., {}, []) or row["default"].lower().startswith(("none", "required")), (
                f"docs/configuration.md, {section}.{key}: the code has no default, the docs say {row['default']!r}"
            )
            continue
        assert documented is not ..., f"docs/configuration.md, {section}.{key}: give the default `{actual!r}`"
        assert _same(documented, actual), (
            f"docs/configuration.md, {section}.{key}: documented default {documented!r}, code default {actual!r}"
        )
        checked += 1
    if section in ("himoe", "limits", "state", "serve", "orchestrator", "linear", "linucb", "symbolic"):
        assert checked, f"no default was compared in section {section}: is its table still parsed?"


def test_every_toml_example_is_a_valid_config():
    text = CONFIG_MD.read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    assert blocks
    for block in blocks:
        load_config(tomllib.loads(block))


def test_the_complete_example_builds_an_engine(tmp_path):
    import importlib.metadata

    for dist in ("himoe-planning", "himoe-math"):  # the example routes to their experts
        try:
            importlib.metadata.distribution(dist)
        except importlib.metadata.PackageNotFoundError:
            pytest.skip(f"the complete example needs {dist} installed")
    from himoe_core import HiMoE

    text = CONFIG_MD.read_text(encoding="utf-8").split("## A complete example", 1)[1]
    config = tomllib.loads(re.search(r"```toml\n(.*?)```", text, re.S).group(1))
    config["state"] = {"path": str(tmp_path / "state.sqlite3")}
    with HiMoE(config=config, environ={"HIMOE_LOAD_PLUGINS": "himoe-planning,himoe-math"}) as moe:
        assert set(moe.routers) == {"planning", "math", "learned", "default"}
        assert moe.run_sync("plan: write the docs, then ship").router == "planning"
