"""Fixtures for tests/: `himoe_main` runs `himoe` in this process (main(argv) with captured
stdio), for tests that run it many times — a subprocess costs ~0.5 s of start-up, main() a few
milliseconds; `cli_plugins_dir` is a --plugins-dir with testing experts."""

from __future__ import annotations

import contextlib
import io
import os
import textwrap
from collections.abc import Mapping
from pathlib import Path

import attrs
import pytest

from himoe_core._cli.main import main

TEST_PLUGIN = textwrap.dedent("""
    from himoe_core import hookimpl
    from himoe_core.testing import EchoExpert, LearningExpert

    @hookimpl
    def register_experts(register):
        register(LearningExpert("fz_alpha", value="A", confidence=0.9))
        register(LearningExpert("fz_beta", value="B", confidence=0.6))
        register(EchoExpert("fz_echo"))
""")


@attrs.frozen
class CliResult:
    code: int
    out: str
    err: str

    def error_line(self) -> str:
        """The stderr of a failed command, checked to be one line without a traceback."""
        assert self.code in (1, 2), self
        assert "Traceback" not in self.err, self.err
        assert self.err.count("\n") == 1 and self.err.endswith("\n"), repr(self.err)
        return self.err.strip()


class _Stdout(io.TextIOWrapper):
    """A text stdout over bytes, strict UTF-8 like a real terminal's (a lone surrogate fails)."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)

    def text(self) -> str:
        self.flush()
        return self.buffer.getvalue().decode("utf-8")


def run_cli(argv: list[str], env: Mapping[str, str | None] | None = None) -> CliResult:
    """`himoe *argv` in this process; `env` sets (or, with None, removes) variables for the call."""
    env = env or {}
    saved = {key: os.environ.get(key) for key in env}
    out, err = _Stdout(), io.StringIO()
    try:
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse: --help, usage errors
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return CliResult(code, out.text(), err.getvalue())


def plugin_folder(root: Path) -> Path:
    """A --plugins-dir holding the test plugin (owner-writable only, as himoe requires)."""
    folder = root / "fuzz_plugins"
    folder.mkdir(exist_ok=True)
    os.chmod(folder, 0o755)
    (folder / "fuzz_test_plugin.py").write_text(TEST_PLUGIN)
    return folder


@pytest.fixture
def himoe_main():
    """run_cli: `himoe_main(["run", "plan: x"], env={...})` → CliResult(code, out, err)."""
    return run_cli


@pytest.fixture
def cli_plugins_dir(tmp_path) -> Path:
    return plugin_folder(tmp_path)
