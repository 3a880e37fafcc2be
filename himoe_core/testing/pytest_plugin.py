"""himoe's pytest plugin: fixtures to test experts, plugins and apps built on himoe in a few lines.

Installed with himoe (the ``pytest11`` entry point ``himoe``), so every test session in an
environment where himoe is installed has these fixtures; a project can also load it explicitly
with ``pytest_plugins = ["himoe_core.testing.pytest_plugin"]`` in its top-level conftest.py::

    from himoe_core.testing import FailingExpert, SleepyExpert, assert_routed
    from himoe_echo import plugin

    def test_my_plugin_answers(himoe_factory):
        moe = himoe_factory(plugins=[plugin])                 # only this plugin: no entry points
        response = moe.run_sync("echo: hi")
        assert response.value.as_text() == "hi"
        assert_routed(response, expert="echo")

    def test_a_slow_expert_is_cut_at_the_deadline(himoe_factory, run_trio):
        moe = himoe_factory([EchoExpert("fast"), SleepyExpert("slow", delay_s=5.0)])
        response = run_trio(moe.run, "question", budget_ms=100)   # on trio's MockClock: no real wait
        assert_routed(response, expert="slow", status="timed_out")

Fixtures:

- `himoe_factory`: ``himoe_factory(experts=(), *, plugins=(), config=None, state=False, ...)``
  builds a `HiMoE` without entry points, closed at teardown;
- `mock_clock`: a ``trio.testing.MockClock(autojump_threshold=0)``;
- `run_trio`: ``run_trio(async_fn, *args)`` runs it under trio on `mock_clock`.

The fault-injecting experts (`SleepyExpert`, `FailingExpert`, `HangingExpert`, …) and the trace
assertions (`assert_routed`, `trace_calls`, `describe_routing`) are importable from
``himoe_core.testing`` (and, for convenience, from this module). Nothing heavy is imported until
a fixture is used, so that loading the plugin costs every pytest run almost nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest


def __getattr__(name: str) -> Any:
    """Everything in ``himoe_core.testing.__all__`` (experts, trace assertions), imported on first
    use. No module-level ``__dir__``: pytest scans the plugin's attributes for fixtures, and
    that must not import trio and numpy."""
    if not name.startswith(("__", "pytest_")):  # pytest probes pytest_plugins, pytest_* hooks
        from himoe_core import testing

        if name in testing.__all__:
            return getattr(testing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_test_config(
    config: str | os.PathLike[str] | Mapping[str, Any] | None, state_path: str | None
) -> dict[str, Any]:
    """`config` (a TOML path, a dict or None) with its ``[state]`` replaced: disabled when
    `state_path` is None, else stored in that file — a test never writes the user's state file."""
    from himoe_core._config.config_parsing import load_config

    checked = load_config(config)
    flush_every = checked["state"]["flush_every"]  # load_config filled in the default
    checked["state"] = (
        {"enabled": False, "flush_every": flush_every}
        if state_path is None
        else {"enabled": True, "path": state_path, "flush_every": flush_every}
    )
    return checked


@pytest.fixture
def himoe_factory(tmp_path: Path) -> Iterable[Callable[..., Any]]:
    """Build `HiMoE` instances for a test; each is closed at teardown.

    ``himoe_factory(experts=(), *, plugins=(), config=None, state=False, strict=True,
    entry_points=False, environ=None, **options) -> HiMoE``

    - `experts`: Expert instances to register (e.g. ``[MyExpert(), FailingExpert("f")]``);
    - `plugins`: plugin modules or objects with ``@hookimpl`` functions, e.g. your package's
      ``plugin`` module — loaded exactly as the entry point would load it;
    - `config`: a himoe config dict or TOML path (routers, orchestrator, ``[plugins.<dist>]``);
      with none, one static router over every registered expert (k=2) serves every request;
    - `state`: False (default) keeps learned state in memory only; True stores it in a SQLite
      file under the test's `tmp_path`, shared by every HiMoE this fixture builds (so a test can
      close one, build another and see what was learned); a path stores it there;
    - `strict`: a plugin that fails to load or raises in a hook is an error (PluginError), not
      a warning — the behaviour a plugin's own tests want;
    - `entry_points`: also load installed plugins (default: only what is given here);
    - `environ`: the ``HIMOE_*`` plugin settings to apply (default: none, whatever the shell has);
    - `options`: passed to HiMoE (e.g. ``plugins_dir``).
    """
    from himoe_core import HiMoE

    built: list[Any] = []

    def build(
        experts: Iterable[Any] = (),
        *,
        plugins: Iterable[Any] = (),
        config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        state: bool | str | os.PathLike[str] = False,
        strict: bool = True,
        entry_points: bool = False,
        environ: Mapping[str, str] | None = None,
        **options: Any,
    ) -> Any:
        if state is True:
            state_path: str | None = str(tmp_path / "himoe-state.sqlite3")
        elif state is False or state is None:
            state_path = None
        else:
            state_path = os.fspath(state)
        settings = dict(environ or {})
        if strict:
            settings.setdefault("HIMOE_STRICT_PLUGINS", "1")
        moe = HiMoE(
            experts=list(experts),
            plugins=list(plugins),
            entry_points=entry_points,
            config=build_test_config(config, state_path),
            environ=settings,
            **options,
        )
        built.append(moe)
        return moe

    yield build
    for moe in reversed(built):
        moe.close()


@pytest.fixture
def mock_clock() -> Any:
    """A ``trio.testing.MockClock(autojump_threshold=0)``: whenever every task is waiting, time
    jumps to the next deadline, so ``SleepyExpert(delay_s=5)`` or a 100 ms budget cost no real
    time and timings are exact (``trio.current_time()``). `run_trio` runs on it; reuse it across
    runs in one test (its time keeps going forward)."""
    import trio.testing

    return trio.testing.MockClock(autojump_threshold=0)


@pytest.fixture
def run_trio(mock_clock: Any) -> Callable[..., Any]:
    """``run_trio(async_fn, *args, real_clock=False)``: run ``async_fn(*args)`` under
    ``trio.run`` on `mock_clock` and return its result (exceptions propagate).

    For example ``response = run_trio(moe.run, "echo: hi", budget_ms=100)`` (keyword arguments
    are passed to `async_fn` too). Use ``real_clock=True`` for experts that block worker threads
    (`BlockingExpert`, any plain ``def infer``): on the mock clock, the time they spend in their
    thread looks like an idle loop, and every deadline is reached at once.
    """
    import functools

    import trio

    def run(async_fn: Callable[..., Any], *args: Any, real_clock: bool = False, **kwargs: Any) -> Any:
        call = functools.partial(async_fn, *args, **kwargs)
        return trio.run(call) if real_clock else trio.run(call, clock=mock_clock)

    return run
