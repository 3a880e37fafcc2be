"""Regression tests for the defects of issue 17 (reliability, round two) fixed outside the
engine and routers: each failed on 0e7f31c. D1 lone surrogates, D5 himoe-http secrets (in
plugins/himoe-http/tests), D6 state file mode, D8 reward xor task loss (CLI), D10 state reset,
D11 retention and stats, D12 damaged state files, D13 messages, D14 plugins_dir."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest
import trio

from himoe_core import HiMoE, InvalidInput, StateError
from himoe_core._engine.trace_writer import TraceWriter
from himoe_core._input import InputData
from himoe_core._learning.feedback_values import FEEDBACK_BOUND, check_feedback
from himoe_core.routing import EncodeError
from himoe_core.state import SqliteStateStore as StateStore
from himoe_core.testing import EchoExpert

ONLY_TEST_PLUGINS = {"HIMOE_LOAD_PLUGINS": "fuzz-test-plugin"}  # the installed plugins stay out


def engine(path: Path, **config) -> HiMoE:
    return HiMoE(experts=[EchoExpert("echo")], entry_points=False, config={"state": {"path": str(path)}, **config})


def populated_state(path: Path, requests: int = 400) -> list[str]:
    with engine(path) as moe:
        return [moe.run_sync("plan: " + "x" * 2000 + str(i)).trace_id for i in range(requests)]


def damage(path: Path) -> None:
    """Garbage over the second half of a valid SQLite file: its header and schema still read."""
    pages = path.stat().st_size // 4096
    with open(path, "r+b") as f:
        f.seek(4096 * (pages // 2))
        f.write(b"\xab" * 4096 * (pages - pages // 2))


# -- D1: invalid Unicode is refused at the door; one bad row costs only itself ---------------------------------
@pytest.mark.parametrize(
    "build",
    [
        lambda: InputData.text("plan: caf\udce9 then eat"),
        lambda: InputData.text("plan: a then b", task="plan:\udcff"),
        lambda: InputData.bytes(b"x", task="x\ud800"),
    ],
)
def test_d1_lone_surrogates_are_invalid_input(build):
    with pytest.raises(InvalidInput, match=r"is not valid Unicode: a lone surrogate .* at position \d+"):
        build()


def test_d1_run_refuses_them_before_any_expert_runs(tmp_path):
    calls = []

    class Counting(EchoExpert):
        async def infer(self, x, ctx):
            calls.append(x)
            return await super().infer(x, ctx)

    with HiMoE(experts=[Counting("echo")], entry_points=False, config={"state": {"path": str(tmp_path / "s")}}) as moe:
        for bad in ({"x": "caf\udce9"}, {"x": "ok", "task": "t\udce9"}, {"x": "ok", "trace_id": "id\udce9"}):
            with pytest.raises(InvalidInput, match="not valid Unicode"):
                moe.run_sync(**bad)
        assert calls == []
        moe.run_sync("fine")
    assert StateStore(tmp_path / "s").count("traces") == 1


def test_d1_cli_argv_with_invalid_utf8_is_one_clear_error(himoe_main, cli_plugins_dir, tmp_path):
    # What Python makes of `himoe run $'plan: caf\xe9 then eat'` in a UTF-8 locale.
    result = himoe_main(
        ["--plugins-dir", str(cli_plugins_dir), "run", "plan: caf\udce9 then eat"], env=ONLY_TEST_PLUGINS
    )
    assert result.error_line().startswith("himoe: error: text input is not valid Unicode: a lone surrogate '\\udce9'")
    result = himoe_main(
        ["--plugins-dir", str(cli_plugins_dir), "run", "echo", "--task", "plan:\udcff"], env=ONLY_TEST_PLUGINS
    )
    assert "task hint is not valid Unicode" in result.error_line()


def test_d1_one_bad_row_loses_only_itself(tmp_path):
    store = StateStore(tmp_path / "s.sqlite3")
    writer = TraceWriter(store.record_trace_rows)

    def row(i, task=None):
        return (f"t{i}", "r", "text", task, b"data", f'{{"trace_id": "t{i}"}}')

    writer.submit([row(i) for i in range(10)] + [row(10, task="bad\udce9")] + [row(i) for i in range(11, 21)])
    with pytest.raises(StateError, match=r"surrogates not allowed \(1 not saved, 20 saved\)"):
        writer.drain()
    writer.submit([row(21)])
    writer.close()  # the writer goes on after a bad row
    assert store.count("traces") == 21
    assert store.trace("t10") is None and store.trace("t20") is not None


# -- D6: the state file is 0600 whatever the path, and checked at open ------------------------------------------------
def test_d6_state_created_through_a_dangling_symlink_is_owner_only(tmp_path):
    (tmp_path / "link.sqlite3").symlink_to(tmp_path / "target.sqlite3")
    with engine(tmp_path / "link.sqlite3") as moe:
        moe.run_sync("hello")
    assert stat.S_IMODE((tmp_path / "target.sqlite3").stat().st_mode) == 0o600
    assert (tmp_path / "link.sqlite3").is_symlink()


def test_d6_a_state_file_others_can_read_is_refused(tmp_path):
    path = tmp_path / "s.sqlite3"
    populated_state(path, 3)
    os.chmod(path, 0o644)
    with pytest.raises(StateError, match=r"can be read or written by other users \(mode 0644\).*chmod 600 "):
        StateStore(path)
    os.chmod(path, 0o600)
    assert StateStore(path).count("traces") == 3


def test_d6_an_empty_file_of_ours_is_made_owner_only(tmp_path):
    path = tmp_path / "s.sqlite3"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    StateStore(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- D8 (CLI half): reward and task loss are alternatives, in a documented range ----------------------------------
def test_d8_cli_refuses_reward_and_task_loss_together(himoe_main):
    result = himoe_main(["feedback", "t", "--reward", "1", "--task-loss", "1"])
    assert result.code == 2
    assert "argument --task-loss: not allowed with argument --reward" in result.error_line()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"reward": 1, "task_loss": 1}, "give reward or task_loss, not both"),
        ({"reward": 1e308}, r"reward must be in \[-1000, 1000\], got 1e\+308"),
        ({"task_loss": -1e200}, r"task_loss must be in \[-1000, 1000\]"),
        ({"reward": float("nan")}, "reward must be a finite number, got nan"),
        ({"reward": True}, "reward must be a finite number, got True"),
        ({"reward": 0.5, "scores": {"a": float("inf")}}, "score for 'a' must be a finite number"),
        ({"reward": 0.5, "shadow_scores": {"s": 1e9}}, r"shadow score for 's' must be in \[-1000, 1000\]"),
    ],
)
def test_d8_check_feedback_refuses(kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        check_feedback(kwargs.pop("reward", None), kwargs.pop("task_loss", None), **kwargs)


def test_d8_check_feedback_accepts_the_range():
    for value in (0, 1, 0.5, -FEEDBACK_BOUND, FEEDBACK_BOUND, 5e-324):
        check_feedback(value, None)
        check_feedback(None, value, scores={"a": value}, shadow_scores={"s": value})


def test_d8_cli_refuses_an_extreme_reward_before_touching_the_state(himoe_main, cli_plugins_dir, tmp_path):
    state = tmp_path / "himoe-state.sqlite3"  # the conftest's HIMOE_STATE
    run = himoe_main(["--plugins-dir", str(cli_plugins_dir), "run", "echo: hi", "--json"], env=ONLY_TEST_PLUGINS)
    assert run.code == 0, run
    trace_id = __import__("json").loads(run.out)["trace_id"]
    result = himoe_main(
        ["--plugins-dir", str(cli_plugins_dir), "feedback", trace_id, "--reward", "1e308"], env=ONLY_TEST_PLUGINS
    )
    assert "reward must be in [-1000, 1000], got 1e+308" in result.error_line()
    assert StateStore(state).count("feedback") == 0


# -- D12: a damaged state file is a StateError saying what to do; an answer is never lost ------------------------
def test_d12_damage_inside_a_valid_sqlite_file_is_a_state_error(tmp_path):
    path = tmp_path / "s.sqlite3"
    trace_ids = populated_state(path)
    damage(path)
    store = StateStore(path)  # the header and schema are intact
    for read in (
        store.traces,
        lambda: store.count("traces"),
        lambda: store.trace(trace_ids[-1]),
        lambda: store.record_trace_rows([("new", "r", "text", None, b"x" * 5000, "{}")] * 1),
    ):
        with pytest.raises(
            StateError,
            match=r"is damaged \(database disk image is malformed\); move it away "
            r"\(himoe then starts a new one.*\.recover",
        ):
            read()


def test_d12_cli_stats_and_run_on_a_damaged_file(himoe_main, cli_plugins_dir, tmp_path):
    path = tmp_path / "himoe-state.sqlite3"
    populated_state(path)
    damage(path)
    assert "is damaged (database disk image is malformed)" in himoe_main(["stats"]).error_line()
    result = himoe_main(["--plugins-dir", str(cli_plugins_dir), "run", "echo: hi"], env=ONLY_TEST_PLUGINS)
    assert result.out == "echo: echo: hi\n"  # the answer is printed, then the error
    assert result.code == 1
    assert result.error_line().startswith(
        "himoe: error: answered, but its trace was not saved: could not write traces to the state file: state file"
    )


# -- D13: one clear line for each of these -----------------------------------------------------------------------
def test_d13_messages(himoe_main, cli_plugins_dir, tmp_path):
    deep_toml = tmp_path / "deep.toml"
    deep_toml.write_text("a = " + "[" * 3000 + "]" * 3000 + "\n")
    newline_router = tmp_path / "nl.toml"
    newline_router.write_text('[routers."a\\nb"]\nkind = "static"\n')
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    cases = [
        (
            ["stats", "--config", str(tmp_path)],
            {},
            f"himoe: error: cannot read config file {str(tmp_path)!r}: Is a directory",
        ),
        (["stats", "--config", str(deep_toml)], {}, "nests arrays or tables more than 32 levels deep"),
        (
            ["feedback", "t", "--reward", "1", "--expected", "[" * 5000 + "]" * 5000],
            {},
            "--expected nests arrays or objects more than 32 levels deep",
        ),
        (["run", "echo: hi", "--task", "a\nb"], {}, "task hint must be one line, got a line break in 'a\\nb'"),
        (
            ["stats"],
            {"HIMOE_STATE": str(not_a_folder / "x.sqlite3")},
            f"cannot create state file {str(not_a_folder / 'x.sqlite3')!r}: {str(not_a_folder)!r} is a file, not a folder",
        ),
        (["stats"], {"HIMOE_STATE": "~nosuchuser-himoe/x"}, "HIMOE_STATE: cannot expand '~nosuchuser-himoe/x'"),
        (["stats"], {"HIMOE_STATE": str(tmp_path)}, "is a folder; point HIMOE_STATE or [state] path at a file"),
        (["run", "echo: hi", "--config", str(newline_router)], {}, "routers.'a\\nb': a router id is one line"),
    ]
    for argv, env, expected in cases:
        result = himoe_main(["--plugins-dir", str(cli_plugins_dir), *argv], env={**ONLY_TEST_PLUGINS, **env})
        assert expected in result.error_line(), (argv, result)
    # A negative number in scientific notation is a value, not an option.
    result = himoe_main(["feedback", "nosuchtrace", "--reward", "-1e-3"])
    assert "unknown trace id 'nosuchtrace'" in result.error_line()


# -- D14: a plugins folder others can write is refused, as ssh refuses such a key -------------------------------
@pytest.mark.parametrize("loosen", ["folder", "file"])
def test_d14_a_plugins_dir_others_can_write_is_refused(himoe_main, cli_plugins_dir, loosen):
    target = cli_plugins_dir if loosen == "folder" else cli_plugins_dir / "fuzz_test_plugin.py"
    os.chmod(target, 0o777 if loosen == "folder" else 0o666)
    result = himoe_main(["--plugins-dir", str(cli_plugins_dir), "list-experts"], env=ONLY_TEST_PLUGINS)
    line = result.error_line()
    assert f"{repr(str(target))} can be written by other users (mode 0{'777' if loosen == 'folder' else '666'})" in line
    assert f"chmod go-w {target}" in line
    os.chmod(target, 0o755 if loosen == "folder" else 0o644)
    result = himoe_main(["--plugins-dir", str(cli_plugins_dir), "list-experts"], env=ONLY_TEST_PLUGINS)
    assert result.code == 0 and "fz_alpha" in result.out


def test_d14_a_group_writable_parent_folder_is_refused_a_sticky_one_is_not(himoe_main, cli_plugins_dir, tmp_path):
    mode = stat.S_IMODE(tmp_path.stat().st_mode)
    try:
        os.chmod(tmp_path, 0o775)
        line = himoe_main(["--plugins-dir", str(cli_plugins_dir), "list-experts"], env=ONLY_TEST_PLUGINS).error_line()
        assert f"plugins folder {str(tmp_path)!r} can be written by other users (mode 0775)" in line
        os.chmod(tmp_path, 0o1777)  # like /tmp: others cannot replace what is ours
        assert himoe_main(["--plugins-dir", str(cli_plugins_dir), "list-experts"], env=ONLY_TEST_PLUGINS).code == 0
    finally:
        os.chmod(tmp_path, mode)


@pytest.mark.parametrize(
    "kind, extra", [("linucb", ""), ("thompson", ""), ("hybrid", ""), ("logistic", 'covariance = "full"')]
)
def test_d13_a_router_dim_whose_matrices_would_not_fit_is_a_config_error(
    himoe_main, cli_plugins_dir, tmp_path, kind, extra
):
    # the documented maximum dim, 1,048,576, was accepted, then every request failed allocating 8 TiB
    config = tmp_path / "big.toml"
    config.write_text(
        f'[routers.r]\nkind = "{kind}"\nexperts = ["fz_alpha", "fz_beta"]\n'
        f'encoder = {{ id = "hashing", dim = 1048576 }}\n{extra}\n'
    )
    line = himoe_main(
        ["--plugins-dir", str(cli_plugins_dir), "run", "hi", "--config", str(config)], env=ONLY_TEST_PLUGINS
    ).error_line()
    assert "routers.r: encoder dim 1048576" in line
    assert (
        f"a {kind} router keeps a 1048577×1048577 float64 matrix per expert: 8.0 TiB each, 16.0 TiB for its 2 experts"
        in line
    )
    assert re.search(
        r"more than a quarter of this machine's memory \(.* of .*\); set routers.r.encoder.dim to at most \d+$", line
    )
    largest = int(line.rsplit(" ", 1)[1])
    config.write_text(config.read_text().replace("1048576", str(min(largest, 64))))
    assert (
        himoe_main(
            ["--plugins-dir", str(cli_plugins_dir), "run", "hi", "--config", str(config)], env=ONLY_TEST_PLUGINS
        ).code
        == 0
    )


def test_d13_a_feature_vector_whose_matrices_would_not_fit_is_an_encode_error(tmp_path):
    moe = HiMoE(
        experts=[EchoExpert("a"), EchoExpert("b")],
        entry_points=False,
        config={"state": {"enabled": False}, "routers": {"r": {"kind": "linucb"}}, "limits": {"max_features": 2**20}},
    )
    many = np.ones(1_000_000, dtype=np.float32)  # 7.3 TiB a matrix: beyond any machine's memory
    with pytest.raises(
        EncodeError,
        match=r"router 'r' cannot learn on 1000000 features: a linucb router keeps .* send at most \d+ features",
    ):
        trio.run(lambda: moe.decide(many))
    assert moe.run_sync(np.ones(8, dtype=np.float32)).router == "r"  # a vector that fits is learned on


def test_d13_plugins_dir_on_a_file_is_one_line(himoe_main, cli_plugins_dir):
    file = cli_plugins_dir / "fuzz_test_plugin.py"
    line = himoe_main(["--plugins-dir", str(file), "list-experts"]).error_line()
    assert (
        line
        == f"himoe: error: plugins folder {str(file)!r} is a file, not a folder; check --plugins-dir or [himoe] plugins_dir"
    )
