"""Property-based tests of config parsing: any TOML-like table — right keys with wrong values,
wrong keys, wrong nesting — and any file content is either a checked config or a ConfigError that
names a key; never a TypeError, KeyError or OverflowError from inside himoe. Building a HiMoE
from what load_config accepted (routers of every built-in kind, encoders, the orchestrator) is
held to the same rule."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from himoe_core import ConfigError, HiMoE
from himoe_core._config.config_parsing import GATING_KEYS, HIMOE_KEYS, RULE_KEYS, STATE_KEYS, load_config
from himoe_core.routing import InputLimits
from himoe_core.testing import ConstantExpert

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

EXPERTS = ["alpha", "beta", "gamma"]
LIMIT_KEYS = ["max_text_chars", "max_bytes", "max_features", "max_task_chars", "max_output_bytes"]
ROUTER_EXTRA_KEYS = [
    "weights",
    "cost_weight",
    "learning_rate",
    "alpha",
    "lambda_balance",
    "mu_entropy",
    "prior_variance",
    "noise",
    "rules",
    "dim",
    "id",
]
KINDS = ["static", "symbolic", "linear", "linucb", "thompson", "hybrid", "logistic", "nope"]

# TOML values: integers are 64-bit, floats include inf and nan, strings, booleans, arrays, tables
toml_scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, 1, 2, -1, 10**6]),
    st.floats(),
    st.booleans(),
    st.text(max_size=8),
    st.sampled_from(
        EXPERTS
        + KINDS
        + [
            "*",
            "domain:testing",
            "plugin:x",
            "best_score",
            "confidence",
            "weighted_vote",
            "weighted_mean",
            "hashing",
            "features",
            "text",
            "bytes",
            "",
            ":memory:",
        ]
    ),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=12,
)


def table_of(keys: list[str], values=toml_values, max_size: int = 4):
    return st.dictionaries(st.one_of(st.sampled_from(sorted(keys)), st.text(max_size=6)), values, max_size=max_size)


def mostly(good, bad):
    """`good` about three times in four, else `bad`: enough valid configs reach the router builders."""
    return st.integers(0, 3).flatmap(lambda i: good if i else bad)


router_names = st.sampled_from(["r0", "r1", "missing"])
router_tables = st.fixed_dictionaries(
    {},
    optional={
        "kind": mostly(st.sampled_from(KINDS), toml_scalars),
        "experts": mostly(st.lists(st.sampled_from(EXPERTS + ["*", "nobody"]), min_size=1, max_size=3), toml_values),
        "k": mostly(st.integers(1, 5), toml_scalars),
        "aggregator": mostly(
            st.sampled_from(["best_score", "confidence", "weighted_vote", "weighted_mean", "nope"]), toml_scalars
        ),
        "gating": mostly(
            st.fixed_dictionaries(
                {},
                optional={
                    "temperature": mostly(st.floats(0.01, 10), toml_scalars),
                    "epsilon": mostly(st.floats(0, 1), toml_scalars),
                    "seed": mostly(st.integers(0, 2**64 - 1), toml_scalars),
                },
            ),
            table_of(sorted(GATING_KEYS)),
        ),
        "encoder": mostly(
            st.one_of(
                st.sampled_from(["hashing", "features"]),
                st.fixed_dictionaries(
                    {"id": st.sampled_from(["hashing", "features", "nope"])},
                    optional={"dim": mostly(st.integers(1, 64), toml_scalars)},
                ),
            ),
            toml_values,
        ),
        **dict.fromkeys(ROUTER_EXTRA_KEYS, toml_values),
    },
)
rule_tables = mostly(
    st.fixed_dictionaries(
        {"router": mostly(router_names, toml_scalars)},
        optional={
            "task_prefix": mostly(st.sampled_from(["fr:", "plan:", "x"]), toml_scalars),
            "input": mostly(st.sampled_from(["text", "bytes", "features"]), toml_scalars),
            "fallbacks": mostly(st.lists(router_names, max_size=2), toml_values),
            "shadows": mostly(st.lists(router_names, max_size=2), toml_values),
        },
    ),
    table_of(sorted(RULE_KEYS)),
)
configs = st.fixed_dictionaries(
    {},
    optional={
        "himoe": mostly(
            st.fixed_dictionaries(
                {},
                optional={
                    "budget_ms": mostly(st.floats(0, 1e5), st.one_of(st.floats(), toml_scalars)),
                    "cost_budget": mostly(st.floats(0, 1e5), st.one_of(st.floats(), toml_scalars)),
                    "trace_capacity": mostly(st.integers(1, 10**5), toml_scalars),
                    "chain_plans": mostly(st.booleans(), toml_scalars),
                    "max_chain_depth": mostly(st.integers(0, 3), toml_scalars),
                },
            ),
            table_of(sorted(HIMOE_KEYS - {"plugins_dir"})),
        ),
        "limits": mostly(
            st.fixed_dictionaries(
                {}, optional={key: mostly(st.integers(1, 2**40), toml_scalars) for key in LIMIT_KEYS}
            ),
            table_of(LIMIT_KEYS),
        ),
        "routers": mostly(
            st.dictionaries(
                st.sampled_from(["r0", "r1", "r2"]), mostly(router_tables, toml_scalars), min_size=1, max_size=3
            ),
            toml_values,
        ),
        "orchestrator": mostly(
            st.fixed_dictionaries(
                {},
                optional={
                    "kind": mostly(st.just("rules"), toml_scalars),
                    "rules": mostly(st.lists(rule_tables, max_size=3), toml_values),
                    "default": router_names,
                    "fallbacks": mostly(st.lists(router_names, max_size=2), toml_values),
                    "shadows": mostly(st.lists(router_names, max_size=2), toml_values),
                    "shadow_min_remaining_ms": toml_scalars,
                    "promote_shadows": toml_scalars,
                    "promotion_min_evidence": toml_scalars,
                },
            ),
            toml_values,
        ),
        "plugins": mostly(
            st.dictionaries(
                st.text(max_size=6), st.dictionaries(st.text(max_size=4), toml_values, max_size=2), max_size=2
            ),
            toml_values,
        ),
        "state": mostly(
            st.fixed_dictionaries(
                {},
                optional={
                    "enabled": mostly(st.booleans(), toml_scalars),
                    "flush_every": mostly(st.integers(1, 100), toml_scalars),
                },
            ),
            table_of(sorted(STATE_KEYS)),
        ),
    },
)


def assert_names_a_key(exc: ConfigError) -> None:
    message = str(exc)
    assert message and "\n" not in message.strip(), message
    assert ":" in message, f"a ConfigError names the key it is about: {message!r}"


@SETTINGS
@given(config=configs)
def test_load_config_gives_a_checked_config_or_a_config_error(config):
    try:
        checked = load_config(config)
    except ConfigError as exc:
        assert_names_a_key(exc)
        return
    himoe = checked["himoe"]
    assert math.isfinite(himoe["budget_ms"]) and himoe["budget_ms"] >= 0
    assert isinstance(checked["limits"], InputLimits)
    assert checked["routers"] and all(isinstance(t["k"], int) and t["k"] >= 1 for t in checked["routers"].values())
    assert load_config(checked) == checked, "a checked config loads again unchanged"


@SETTINGS
@given(config=configs)
def test_building_a_himoe_from_any_config_is_a_himoe_or_a_config_error(config):
    try:
        checked = load_config(config)
    except ConfigError:
        return
    checked["state"] = {"enabled": False}  # never write a file named by a random string
    try:
        moe = HiMoE(experts=[ConstantExpert(name) for name in EXPERTS], entry_points=False, environ={}, config=checked)
    except ConfigError as exc:
        assert_names_a_key(exc)
        return
    assert moe.routers and moe.orchestrator is not None
    moe.close()


@settings(max_examples=100, deadline=None, database=None)
@given(
    content=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        st.sampled_from(
            [
                b"[himoe]\nbudget_ms = nan\n",
                b"[limits]\nmax_bytes = -1\n",
                b"routers = 3\n",
                b"[routers.r]\nk = 9223372036854775807\n",
                b"[[orchestrator.rules]]\nrouter = 1\n",
                b"\xff\xfe[himoe]",
                b"[himoe]\nbudget_ms = 1e400\n",
                b"[state]\nflush_every = 0\n",
            ]
        ),
    )
)
def test_any_file_content_is_a_config_or_a_config_error(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("config") / "himoe.toml"
    path.write_bytes(content)
    try:
        load_config(path)
    except ConfigError as exc:
        assert_names_a_key(exc)


def test_numbers_beyond_float_range_are_a_config_error_not_an_overflow():
    for key in ("budget_ms", "cost_budget"):
        try:
            load_config({"himoe": {key: 10**400}})
        except ConfigError as exc:
            assert f"himoe.{key}" in str(exc)
