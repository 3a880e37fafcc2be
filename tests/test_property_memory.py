"""Property-based test of Memory (the bounded store a Context carries): any sequence of writes,
reads, deletes and clock steps behaves like a reference model — least-recently-used eviction past
`max_items`, expiry `ttl_s` after the write (reads refresh recency, never the expiry) — and the
store never holds more than `max_items` entries."""

from __future__ import annotations

from collections import OrderedDict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from himoe_core.routing import Memory

KEYS = st.sampled_from([f"k{i}" for i in range(8)])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), KEYS, st.integers()),
        st.tuples(st.just("get"), KEYS, st.none()),
        st.tuples(st.just("delete"), KEYS, st.none()),
        st.tuples(st.just("contains"), KEYS, st.none()),
        st.tuples(st.just("len"), st.none(), st.none()),
        st.tuples(st.just("tick"), st.none(), st.floats(0.0, 3.0)),
    ),
    max_size=80,
)


class Model:
    """The documented behaviour, written the simplest way."""

    def __init__(self, max_items: int, ttl_s: float) -> None:
        self.max_items, self.ttl_s, self.now = max_items, ttl_s, 0.0
        self.items: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def purge(self) -> None:
        for key in [k for k, (expires, _) in self.items.items() if expires <= self.now]:
            del self.items[key]

    def set(self, key: str, value: int) -> None:
        self.items[key] = (self.now + self.ttl_s, value)
        self.items.move_to_end(key)
        self.purge()
        while len(self.items) > self.max_items:
            self.items.popitem(last=False)

    def get(self, key: str):
        if key not in self.items:
            return None
        expires, value = self.items[key]
        if expires <= self.now:
            del self.items[key]
            return None
        self.items.move_to_end(key)
        return value


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(max_items=st.integers(1, 6), ttl_s=st.floats(0.01, 5.0), ops=OPS)
def test_memory_follows_the_lru_and_ttl_model(max_items, ttl_s, ops):
    model = Model(max_items, ttl_s)
    memory = Memory(max_items=max_items, ttl_s=ttl_s, clock=lambda: model.now)
    for op, key, arg in ops:
        if op == "set":
            memory.set(key, arg)
            model.set(key, arg)
        elif op == "get":
            assert memory.get(key) == model.get(key), (op, key)
        elif op == "delete":
            memory.delete(key)
            model.items.pop(key, None)
        elif op == "contains":
            assert (key in memory) == (model.get(key) is not None)
        elif op == "len":
            model.purge()
            assert len(memory) == len(model.items)
        else:
            model.now += arg
        assert len(memory._items) <= max_items
    model.purge()
    assert len(memory) == len(model.items)
    assert list(memory._items) == list(model.items), "the recency order"


@settings(max_examples=100, deadline=None, database=None)
@given(
    max_items=st.one_of(st.integers(-3, 0), st.floats(), st.booleans(), st.none(), st.text(max_size=2)),
    ttl_s=st.one_of(st.floats(max_value=0.0), st.none(), st.text(max_size=2)),
)
def test_bad_memory_settings_are_value_errors(max_items, ttl_s):
    with pytest.raises(ValueError):
        Memory(max_items=max_items, ttl_s=ttl_s)
