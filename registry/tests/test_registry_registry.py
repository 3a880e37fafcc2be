"""Registry: ordering, lookups and conflict messages."""

from __future__ import annotations

import pickle

import pytest
from himoe_registry import (
    DuplicateName,
    ExpertId,
    IdCollision,
    InvalidName,
    Registry,
    RegistryError,
    stable_id,
)

NAMES = ["rule_planner", "math_sympy", "nlp_french_tagger", "a.b-c"]


def filled(order: list[str]) -> Registry[str]:
    registry: Registry[str] = Registry()
    for name in order:
        registry.add(name, f"item:{name}", source=f"dist-{name} 1.0")
    return registry


def test_add_returns_the_stable_id() -> None:
    registry: Registry[object] = Registry()
    eid = registry.add("rule_planner", object(), source="x")
    assert type(eid) is ExpertId and str(eid) == "21173fea50be1d0d"


def test_listing_is_sorted_by_name_whatever_the_registration_order() -> None:
    forward = filled(NAMES)
    backward = filled(list(reversed(NAMES)))
    expected = [(stable_id(n), n) for n in sorted(NAMES)]
    assert forward.list() == expected
    assert backward.list() == expected
    assert [type(eid) for eid, _ in forward.list()] == [ExpertId] * len(NAMES)


def test_items_and_iteration_follow_name_order() -> None:
    registry = filled(NAMES)
    assert registry.items() == [(stable_id(n), n, f"item:{n}") for n in sorted(NAMES)]
    assert list(registry) == [f"item:{n}" for n in sorted(NAMES)]


def test_listing_reflects_later_additions() -> None:
    registry = filled(["math_sympy"])
    assert [n for _, n in registry.list()] == ["math_sympy"]
    registry.add("aardvark", "item:aardvark", source="late")
    assert [n for _, n in registry.list()] == ["aardvark", "math_sympy"]


def test_lookups_by_id_and_by_name() -> None:
    registry = filled(NAMES)
    eid = stable_id("math_sympy")
    assert registry.get_by_id(eid) == "item:math_sympy"
    assert registry.get_by_id(int(eid)) == "item:math_sympy"  # a plain int works too
    assert registry.get_by_name("math_sympy") == "item:math_sympy"
    assert registry.id_of("math_sympy") == eid
    assert registry.name_of(eid) == "math_sympy"
    assert registry.source_of("math_sympy") == "dist-math_sympy 1.0"


def test_missing_lookups_return_none() -> None:
    registry = filled(NAMES)
    assert registry.get_by_id(ExpertId(1)) is None
    assert registry.get_by_name("nope") is None
    assert registry.id_of("nope") is None
    assert registry.name_of(1) is None
    assert registry.source_of("nope") is None


def test_falsy_items_are_still_found() -> None:
    registry: Registry[int] = Registry()
    eid = registry.add("zero", 0, source="s")
    assert registry.get_by_id(eid) == 0
    assert registry.get_by_name("zero") == 0


def test_len_and_contains_accept_names_and_ids() -> None:
    registry = filled(NAMES)
    assert len(registry) == len(NAMES)
    assert "math_sympy" in registry
    assert stable_id("math_sympy") in registry
    assert int(stable_id("math_sympy")) in registry
    assert "unknown" not in registry
    assert ExpertId(3) not in registry
    assert None not in registry
    assert True not in registry  # bool is not an id
    assert len(Registry()) == 0


def test_duplicate_name_names_both_sources_and_keeps_the_first() -> None:
    registry: Registry[str] = Registry()
    registry.add("x", "first", source="dist-a 1.0")
    with pytest.raises(DuplicateName) as info:
        registry.add("x", "second", source="dist-b 2.0")
    assert str(info.value) == (
        "expert 'x' is registered twice: by 'dist-a 1.0' and by 'dist-b 2.0'; "
        "rename one or disable one plugin with HIMOE_DISABLE_PLUGINS"
    )
    assert (info.value.name, info.value.first_source, info.value.second_source) == ("x", "dist-a 1.0", "dist-b 2.0")
    assert isinstance(info.value, RegistryError) and isinstance(info.value, ValueError)
    assert registry.get_by_name("x") == "first"
    assert registry.source_of("x") == "dist-a 1.0"
    assert len(registry) == 1


def test_id_collision_names_both_names_and_sources_and_changes_nothing() -> None:
    registry: Registry[str] = Registry(id_fn=lambda name: 0xABC)
    registry.add("alpha", "a", source="dist-a 1.0")
    with pytest.raises(IdCollision) as info:
        registry.add("beta", "b", source="dist-b 2.0")
    message = str(info.value)
    for part in ("'alpha'", "'beta'", "'dist-a 1.0'", "'dist-b 2.0'", "0000000000000abc", "rename one"):
        assert part in message
    error = info.value
    assert (error.expert_id, error.first_name, error.first_source, error.second_name, error.second_source) == (
        0xABC,
        "alpha",
        "dist-a 1.0",
        "beta",
        "dist-b 2.0",
    )
    assert "beta" not in registry
    assert registry.list() == [(ExpertId(0xABC), "alpha")]


def test_custom_id_fn_results_become_expert_ids() -> None:
    registry: Registry[str] = Registry(id_fn=len)
    eid = registry.add("abcd", "x", source="s")
    assert type(eid) is ExpertId and eid == 4
    assert type(registry.list()[0][0]) is ExpertId


def test_id_fn_out_of_range_is_reported_and_changes_nothing() -> None:
    registry: Registry[str] = Registry(id_fn=lambda name: -1)
    with pytest.raises(ValueError, match="out of range"):
        registry.add("abc", "x", source="s")
    assert len(registry) == 0


def test_invalid_names_are_rejected_with_the_registry_kind() -> None:
    registry: Registry[str] = Registry(kind="router")
    with pytest.raises(InvalidName, match="invalid router name 'Top Router'"):
        registry.add("Top Router", "x", source="s")
    assert len(registry) == 0
    registry.add("top", "x", source="a")
    with pytest.raises(DuplicateName, match="^router 'top' is registered twice"):
        registry.add("top", "y", source="b")


def test_conflict_errors_pickle() -> None:
    dup = DuplicateName("x", "a 1", "b 2")
    col = IdCollision(ExpertId(5), "x", "a 1", "y", "b 2", "router")
    for error in (dup, col):
        clone = pickle.loads(pickle.dumps(error))
        assert type(clone) is type(error) and str(clone) == str(error)


def test_repr_mentions_kind_and_size() -> None:
    assert repr(filled(NAMES)) == "Registry(kind='expert', 4 entries)"
