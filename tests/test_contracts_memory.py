"""Memory: bounded (LRU past max_items), entries expire after a TTL, thread-safe."""

import random
import threading

import pytest

from himoe_core.routing import Memory


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_set_get_delete_and_contains():
    memory = Memory()
    memory.set("a", {"x": 1})
    assert memory.get("a") == {"x": 1}
    assert "a" in memory and "b" not in memory
    assert memory.get("b") is None
    assert memory.get("b", "fallback") == "fallback"
    memory.delete("a")
    memory.delete("never-there")
    assert "a" not in memory and len(memory) == 0


def test_a_stored_none_is_not_confused_with_a_missing_key():
    memory = Memory()
    memory.set("k", None)
    assert "k" in memory
    assert memory.get("k", "default") is None


def test_lru_eviction_drops_the_oldest_past_max_items():
    memory = Memory(max_items=3)
    for key in "abcd":
        memory.set(key, key.upper())
    assert len(memory) == 3
    assert "a" not in memory
    assert [memory.get(k) for k in "bcd"] == ["B", "C", "D"]


def test_reads_refresh_recency():
    memory = Memory(max_items=3)
    for key in "abc":
        memory.set(key, key)
    assert memory.get("a") == "a"  # a is now the most recent; b is the oldest
    memory.set("d", "d")
    assert "b" not in memory
    assert all(k in memory for k in "acd")


def test_overwriting_refreshes_recency_and_value():
    memory = Memory(max_items=2)
    memory.set("a", 1)
    memory.set("b", 2)
    memory.set("a", 3)
    memory.set("c", 4)
    assert memory.get("a") == 3
    assert "b" not in memory


def test_entries_expire_after_the_ttl_on_the_injected_clock():
    clock = FakeClock(100.0)
    memory = Memory(ttl_s=10, clock=clock)
    memory.set("a", 1)
    clock.now = 105.0
    memory.set("b", 2)
    clock.now = 109.999
    assert memory.get("a") == 1
    clock.now = 110.0
    assert memory.get("a") is None
    assert "a" not in memory
    assert memory.get("b") == 2
    assert len(memory) == 1
    clock.now = 115.0
    assert len(memory) == 0


def test_reads_do_not_extend_the_ttl():
    clock = FakeClock()
    memory = Memory(ttl_s=10, clock=clock)
    memory.set("a", 1)
    for now in (3.0, 6.0, 9.0):
        clock.now = now
        assert memory.get("a") == 1
    clock.now = 10.0
    assert memory.get("a") is None


def test_expired_entries_do_not_count_against_max_items():
    clock = FakeClock()
    memory = Memory(max_items=2, ttl_s=1, clock=clock)
    memory.set("old1", 1)
    memory.set("old2", 2)
    clock.now = 5.0
    memory.set("new1", 3)
    memory.set("new2", 4)
    assert memory.get("new1") == 3 and memory.get("new2") == 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_items": 0}, "max_items must be a positive integer, got 0"),
        ({"max_items": 2.5}, "max_items must be a positive integer, got 2.5"),
        ({"max_items": True}, "max_items must be a positive integer, got True"),
        ({"ttl_s": 0}, "ttl_s must be a positive number of seconds, got 0"),
        ({"ttl_s": -1.0}, "ttl_s must be a positive number of seconds, got -1.0"),
        ({"ttl_s": float("nan")}, "ttl_s must be a positive number of seconds, got nan"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Memory(**kwargs)


def test_thread_safety_smoke_size_stays_bounded():
    memory = Memory(max_items=50)
    errors: list[BaseException] = []
    sizes: list[int] = []
    start = threading.Barrier(16)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            start.wait()
            for i in range(2000):
                key = f"k{rng.randrange(200)}"
                if rng.random() < 0.5:
                    memory.set(key, (seed, i))
                else:
                    value = memory.get(key)
                    assert value is None or isinstance(value, tuple)
                if i % 100 == 0:
                    sizes.append(len(memory))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert max(sizes) <= 50
    assert len(memory) == 50  # 200 keys were written: it is full, not over
