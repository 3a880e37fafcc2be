"""`python -m himoe_core` is the `himoe` command: same help for the command and each subcommand
(apart from the program name, should it ever differ), same exit codes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from himoe_core._cli.main import build_parser

HIMOE = Path(sys.executable).parent / ("himoe.exe" if os.name == "nt" else "himoe")
SUBCOMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)  # noqa: SLF001 — argparse's only way


def run(command: list[str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIMOE_") and k != "PYTHONPATH"}
    env["COLUMNS"] = "100"  # argparse wraps help to the terminal width
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


def without_prog(text: str) -> str:
    """The help text with the program name replaced and whitespace collapsed (a longer name
    would shift argparse's wrapped usage lines)."""
    text = re.sub(r"\b(?:himoe|__main__\.py|python3? -m himoe_core)(?= |$)", "PROG", text, flags=re.MULTILINE)
    return " ".join(text.split())


@pytest.mark.parametrize("args", [[], *([name] for name in SUBCOMMANDS)], ids=lambda a: " ".join(a) or "himoe")
def test_help_is_identical(args):
    script = run([str(HIMOE), *args, "--help"])
    module = run([sys.executable, "-m", "himoe_core", *args, "--help"])
    assert script.returncode == module.returncode == 0, (script.stderr, module.stderr)
    assert without_prog(module.stdout) == without_prog(script.stdout)
    assert "new-plugin" in SUBCOMMANDS and "list-experts" in SUBCOMMANDS


def test_usage_errors_are_identical():
    script = run([str(HIMOE), "no-such-command"])
    module = run([sys.executable, "-m", "himoe_core", "no-such-command"])
    assert script.returncode == module.returncode == 2
    assert module.stderr == script.stderr and "invalid choice: 'no-such-command'" in script.stderr
