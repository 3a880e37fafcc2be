"""Input size limits: every request size is bounded by `[limits]` — text length, bytes size,
feature dimension, task hint — with a clear InvalidInput that names the size, the limit and the
key that raises it; refused before any expert runs, through the API and the CLI alike. (Expert
outputs are bounded by `max_output_bytes`: tests/test_reliability_faults.py.)"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import trio

from himoe_core import ConfigError, HiMoE, InputData, InvalidInput
from himoe_core._config.config_parsing import load_config
from himoe_core.testing import ConstantExpert

LIMITS = {"max_text_chars": 50, "max_bytes": 64, "max_features": 8, "max_task_chars": 10}

CASES = [
    # (what, limit key, an input exactly at the limit, one just over it, the message)
    (
        "text",
        "max_text_chars",
        "é" * 50,
        "é" * 51,
        r"^text input has 51 characters, more than the limit of 50; split it or raise limits.max_text_chars$",
    ),
    (
        "bytes",
        "max_bytes",
        b"\x00" * 64,
        b"\x00" * 65,
        r"^bytes input has 65 bytes, more than the limit of 64; raise limits.max_bytes$",
    ),
    (
        "features",
        "max_features",
        np.ones(8),
        np.ones(9),
        r"^feature vector has 9 values, more than the limit of 8; raise limits.max_features$",
    ),
]


def make_moe(limits=None) -> tuple[HiMoE, ConstantExpert]:
    expert = ConstantExpert("only")
    moe = HiMoE(
        experts=[expert],
        entry_points=False,
        environ={},
        config={"limits": dict(LIMITS if limits is None else limits), "state": {"enabled": False}},
    )
    return moe, expert


@pytest.mark.parametrize("what, key, at_limit, over, message", CASES, ids=[c[0] for c in CASES])
def test_each_input_limit_comes_from_the_config_and_is_refused_before_any_expert(what, key, at_limit, over, message):
    moe, expert = make_moe()
    assert trio.run(moe.run, at_limit).value.as_text() == "ok"
    with pytest.raises(InvalidInput, match=message):
        trio.run(moe.run, over)
    assert expert.calls == 1, "the oversized request reached no expert"
    assert len(moe.traces) == 1
    roomy, _ = make_moe({**LIMITS, key: LIMITS[key] + 1})
    assert trio.run(roomy.run, over).value.as_text() == "ok"


def test_the_task_hint_limit_comes_from_the_config():
    moe, expert = make_moe()
    assert trio.run(lambda: moe.run("x", task="t" * 10)).value.as_text() == "ok"
    with pytest.raises(
        InvalidInput,
        match=r"^task hint must be one line of at most 10 characters, got 11 "
        r"characters; raise limits.max_task_chars$",
    ):
        trio.run(lambda: moe.run("x", task="t" * 11))
    with pytest.raises(
        InvalidInput, match=r"^task hint must be one line, got a line break in 'a\\nb'; "
    ):  # no limit to raise
        trio.run(lambda: moe.run("x", task="a\nb"))
    assert expert.calls == 1


def test_the_defaults_bound_every_input():
    defaults = load_config(None)["limits"]
    assert (
        defaults.max_text_chars,
        defaults.max_bytes,
        defaults.max_features,
        defaults.max_task_chars,
        defaults.max_output_bytes,
    ) == (100_000, 16 * 2**20, 65_536, 200, 16 * 2**20)
    for too_big in ("x" * 100_001, b"\x00" * (16 * 2**20 + 1), np.zeros(65_537, dtype=np.float32)):
        with pytest.raises(InvalidInput) as info:
            InputData.coerce(too_big)
        assert len(str(info.value)) < 200, "the message says the size, it does not quote the input"


@pytest.mark.parametrize(
    "limits, message",
    [
        ({"max_bytes": 0}, r"limits: InputLimits.max_bytes must be a positive integer, got 0"),
        ({"max_text_chars": "big"}, r"limits: InputLimits.max_text_chars must be a positive integer, got 'big'"),
        ({"max_features": 1.5}, r"limits: InputLimits.max_features must be a positive integer, got 1.5"),
        ({"max_output_bytes": True}, r"limits: InputLimits.max_output_bytes must be a positive integer, got True"),
        (
            {"max_chars": 10},
            r"^limits.max_chars: unknown key; known keys here: max_bytes, max_features, "
            r"max_output_bytes, max_task_chars, max_text_chars$",
        ),
    ],
)
def test_bad_limits_are_a_config_error_naming_the_key(limits, message):
    with pytest.raises(ConfigError, match=message):
        load_config({"limits": limits})


# -- the CLI -----------------------------------------------------------------------------------------------
@pytest.fixture
def cli(tmp_path):
    config = tmp_path / "himoe.toml"
    config.write_text(
        "[limits]\n" + "".join(f"{k} = {v}\n" for k, v in LIMITS.items()) + "\n[state]\nenabled = false\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIMOE_")}
    env["HIMOE_STATE"] = str(tmp_path / "state.sqlite3")

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "himoe_core", "run", *args, "--config", str(config), "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            cwd=tmp_path,
        )

    return run


def test_the_cli_refuses_oversized_inputs_with_one_line(cli, tmp_path):
    np.save(tmp_path / "wide.npy", np.ones(9))
    (tmp_path / "big.bin").write_bytes(b"\x01" * 65)
    for args, message in [
        (
            ["x" * 51],
            "himoe: error: text input has 51 characters, more than the limit of 50; split it or raise "
            "limits.max_text_chars",
        ),
        (
            ["--bytes", "big.bin"],
            "himoe: error: bytes input has 65 bytes, more than the limit of 64; raise limits.max_bytes",
        ),
        (
            ["--features", "wide.npy"],
            "himoe: error: feature vector has 9 values, more than the limit of 8; raise limits.max_features",
        ),
        (
            ["hello", "--task", "t" * 11],
            "himoe: error: task hint must be one line of at most 10 characters, got 11 "
            "characters; raise limits.max_task_chars",
        ),
    ]:
        proc = cli(*args)
        assert proc.returncode == 1 and proc.stdout == ""
        assert proc.stderr == message + "\n"


def test_the_cli_refuses_a_npy_file_that_is_not_one_or_holds_objects_without_advising_unsafe_loading(cli, tmp_path):
    (tmp_path / "text.npy").write_text("1, 2, 3\n")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "cut.npy", np.ones(4))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "cut.npy").read_bytes()[:-8])
    for name, message in [
        (
            "text.npy",
            "himoe: error: 'text.npy' is not a .npy file (numpy.save writes them); save the features with "
            "numpy.save, or write them as numbers separated by commas or spaces in a file without the .npy "
            "suffix",
        ),
        (
            "objects.npy",
            "himoe: error: 'objects.npy' is not a readable .npy array: it holds Python objects, which "
            "himoe never loads (loading them can run code); save a numeric array",
        ),
        ("cut.npy", "himoe: error: 'cut.npy' is not a readable .npy array: "),  # then numpy's words
    ]:
        proc = cli("--features", name)
        assert proc.returncode == 1 and proc.stdout == ""
        assert proc.stderr == message + "\n" if name != "cut.npy" else proc.stderr.startswith(message)
        assert proc.stderr.count("\n") == 1 and "allow_pickle" not in proc.stderr


def test_an_input_data_built_under_other_limits_is_checked_against_the_config():
    moe, expert = make_moe()
    built_elsewhere = InputData.text("x" * 51)  # the default limits allow it
    with pytest.raises(InvalidInput, match="more than the limit of 50"):
        trio.run(moe.run, built_elsewhere)
    with pytest.raises(InvalidInput, match="raise limits.max_task_chars"):
        trio.run(moe.run, InputData.text("x", task="t" * 11))
    assert expert.calls == 0


def test_the_cli_applies_a_config_limit_larger_than_the_default(tmp_path):
    config = tmp_path / "himoe.toml"
    config.write_text("[limits]\nmax_text_chars = 200000\n\n[state]\nenabled = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIMOE_")}
    env.update(HIMOE_STATE=str(tmp_path / "state.sqlite3"), HIMOE_LOAD_PLUGINS="himoe-planning")
    proc = subprocess.run(
        [sys.executable, "-m", "himoe_core", "run", "plan: " + "x" * 120_000, "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert "more than the limit" not in proc.stderr
    assert proc.returncode == 0, proc.stderr
