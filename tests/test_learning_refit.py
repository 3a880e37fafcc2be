"""A learning router's periodic refit from its history: a batch fit in the engine's refit
thread, published only when it predicts the newest events better than the online model did."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from himoe_core import ConfigError, HiMoE
from himoe_core.testing import ConstantExpert

SUBJECTS = ("anatomy", "law", "algebra", "poetry")
ARMS = ("a0", "a1")


def _engine(refit, state=None) -> HiMoE:
    return HiMoE(
        experts=[ConstantExpert(name, value=name) for name in ARMS],
        entry_points=False,
        environ={},
        config={
            "routers": {
                "r": {
                    "kind": "logistic",
                    "experts": list(ARMS),
                    "encoder": {"id": "hashing", "dim": 64},
                    "refit": refit,
                }
            },
            "state": {"path": state} if state else {"enabled": False},
        },
    )


def _stream(moe: HiMoE, n: int, seed: int = 0, flip_at: int | None = None) -> None:
    """Arm a0 is right for the first two subjects, a1 for the others — the other way round
    from request `flip_at` on."""
    rng = np.random.default_rng(seed)
    for t in range(n):
        subject = int(rng.integers(len(SUBJECTS)))
        response = moe.run_sync("a question", context={"subject": SUBJECTS[subject]})
        right = ARMS[(subject // 2) ^ int(flip_at is not None and t >= flip_at)]
        moe.feedback(response.trace_id, reward=float(response.value.data == right))


def test_refits_run_in_their_own_thread_and_are_published_and_saved(tmp_path):
    state = str(tmp_path / "state.db")
    # The world changes at request 100: the online posterior, sure of the old world, turns
    # slowly; a refit on the window (mostly the new world) predicts the newest events better.
    moe = _engine({"every": 50, "window": 80, "holdout": 0.25}, state)
    router = moe.routers["r"].handle
    threads = set()
    fit = router.fit_history

    def recording(events):
        threads.add(threading.current_thread().name)
        return fit(events)

    router.fit_history = recording
    try:
        _stream(moe, 200, flip_at=100)
        moe.trainer.wait_refits()
        history = router.refit_history
        assert history.refits == 4 and history.published >= 1, (history.refits, history.published)
        assert threads == {"himoe-refit"}  # never the thread that routes or gives feedback
        assert len(history.events) == 80  # bounded: the window
        version = router.model_version
        assert version == moe.trainer.store.router_version("r") and version > 200  # a refit saves a version
    finally:
        moe.close()


def test_a_refit_that_predicts_the_newest_events_worse_is_not_published():
    moe = _engine({"every": 1000, "holdout": 0.5})
    try:
        _stream(moe, 80)
        router = moe.routers["r"].handle
        events = list(router.refit_history.events)
        # the online model's own record on those events, made perfect: no refit can beat it
        perfect = [(d, x, arm, reward, min(max(reward, 1e-9), 1 - 1e-9)) for d, x, arm, reward, _ in events]
        assert router.fit_history(perfect) is None
        # made useless (always wrong, sure of it): the refit is published
        wrong = [(d, x, arm, reward, 1.0 - min(max(reward, 1e-6), 1 - 1e-6)) for d, x, arm, reward, _ in events]
        fitted = router.fit_history(wrong)
        assert fitted is not None and set(fitted) <= {int(ref.id) for ref in router.experts}
        before = router.model
        tail = events[-3:]  # events learned while the refit ran: learned again on top of it
        assert router.publish_fit(fitted, tail) and router.model is not before
        for arm, (_, fitted_on) in fitted.items():
            assert router.model.n[arm] == fitted_on + sum(1 for event in tail if event[2] == arm)
    finally:
        moe.close()


@pytest.mark.parametrize(
    ("refit", "message"),
    [
        ({"every": 0}, "refit.every must be a whole number >= 1"),
        ({"holdout": 1.5}, "refit.holdout must be a fraction"),
        ({"often": 3}, "refit has no option 'often'"),
        ("yes", "refit must be true, false or a table"),
    ],
)
def test_bad_refit_options_are_config_errors(refit, message):
    with pytest.raises(ConfigError, match=message):
        _engine(refit)


def test_kinds_without_a_batch_refit_refuse_the_option():
    with pytest.raises(ConfigError, match="router kind 'linucb' rejected its options: .*'refit'"):
        HiMoE(
            experts=[ConstantExpert(name) for name in ARMS],
            entry_points=False,
            environ={},
            config={"routers": {"r": {"kind": "linucb", "experts": list(ARMS), "encoder": "hashing", "refit": True}}},
        )
