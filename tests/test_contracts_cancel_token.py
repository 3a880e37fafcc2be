"""CancelToken: thread-safe, cooperative, callbacks fire exactly once."""

import threading
import time

import pytest

from himoe_core import CancelToken


def test_a_new_token_is_not_cancelled():
    token = CancelToken()
    assert not token.is_cancelled()
    assert token.reason == ""
    assert "cancelled=False" in repr(token)


def test_cancel_is_sticky_and_keeps_the_first_reason():
    token = CancelToken()
    token.cancel("user pressed stop")
    token.cancel("second call")
    assert token.is_cancelled()
    assert token.reason == "user pressed stop"
    assert "cancelled=True" in repr(token)


def test_cancel_from_another_thread_fires_each_callback_once():
    token = CancelToken()
    calls: list[str] = []
    lock = threading.Lock()

    def record(name):
        def callback():
            with lock:
                calls.append((name, threading.current_thread().name))

        return callback

    token.on_cancel(record("a"))
    token.on_cancel(record("b"))
    threads = [threading.Thread(target=token.cancel, args=(f"t{i}",), name=f"canceller-{i}") for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(name for name, _ in calls) == ["a", "b"]
    # Called from the cancelling thread, not the subscriber's.
    assert all(thread_name.startswith("canceller-") for _, thread_name in calls)
    assert calls[0][1] == calls[1][1]
    assert token.reason in {f"t{i}" for i in range(8)}


def test_on_cancel_after_cancel_runs_at_once():
    token = CancelToken()
    token.cancel()
    calls = []
    unsubscribe = token.on_cancel(lambda: calls.append("late"))
    assert calls == ["late"]
    unsubscribe()  # harmless
    token.cancel()
    assert calls == ["late"]


def test_unsubscribe_prevents_the_callback():
    token = CancelToken()
    calls = []
    unsubscribe = token.on_cancel(lambda: calls.append("gone"))
    token.on_cancel(lambda: calls.append("kept"))
    unsubscribe()
    token.cancel()
    assert calls == ["kept"]


def test_the_same_callable_may_subscribe_twice_and_unsubscribe_once():
    token = CancelToken()
    calls = []

    def callback():
        calls.append(1)

    first = token.on_cancel(callback)
    token.on_cancel(callback)
    first()
    token.cancel()
    assert calls == [1]


def test_a_raising_callback_does_not_stop_the_others():
    token = CancelToken()
    calls = []

    def boom():
        raise RuntimeError("callback failed")

    token.on_cancel(lambda: calls.append("before"))
    token.on_cancel(boom)
    token.on_cancel(lambda: calls.append("after"))
    with pytest.raises(RuntimeError, match="callback failed"):
        token.cancel()
    assert calls == ["before", "after"]
    assert token.is_cancelled()


def test_wait_times_out_when_not_cancelled():
    token = CancelToken()
    started = time.monotonic()
    assert token.wait(0.05) is False
    assert time.monotonic() - started >= 0.04


def test_wait_returns_true_when_cancelled_from_another_thread():
    token = CancelToken()
    timer = threading.Timer(0.02, token.cancel)
    timer.start()
    try:
        assert token.wait(5.0) is True
    finally:
        timer.cancel()
    assert token.wait(0) is True


def test_child_is_cancelled_with_its_parent_but_not_the_reverse():
    parent = CancelToken()
    child, detach = parent.child()
    other, _ = parent.child()
    other.cancel("own reason")
    assert not parent.is_cancelled()
    parent.cancel("parent stopped")
    assert child.is_cancelled() and child.reason == "parent stopped"


def test_a_detached_child_no_longer_follows_its_parent():
    parent = CancelToken()
    child, detach = parent.child()
    detach()
    parent.cancel()
    assert not child.is_cancelled()
