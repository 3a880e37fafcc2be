"""The code samples of the README and the guides run against the current API.

Every ```python block of the pages below is run, in page order, in a fresh Python process whose
working folder is a temporary folder of the page. A block whose first line is a comment naming
a file (`# plugins/coin_experts.py`, `# himoe.toml`) is also written there first, so a
walk-through's later blocks find the files of the earlier ones. A block preceded by
`<!-- docs-test: skip (reason) -->` is not run (signatures, fragments of a package, code that
needs pytest fixtures). Every ```toml block that is a himoe config must pass `load_config`."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from himoe_core._config.config_parsing import load_config

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = [
    "../README.md",
    "index.md",
    "quickstart.md",
    "concepts.md",
    "configuration.md",
    "embedding.md",
    "learning.md",
    "cli.md",
    "plugins.md",
    "hooks.md",
    "serving.md",
    "reliability.md",
]
BLOCK = re.compile(r"^```(?P<lang>[a-z]*)\n(?P<code>.*?)^```", re.S | re.M)
FILE_COMMENT = re.compile(r"#\s*(?P<path>[\w./-]+\.(?:py|toml))\b.*")


def blocks(page: str) -> list[dict]:
    """The fenced blocks of a page: language, code, whether the last non-blank line before the
    fence asks to skip it, the file its first-line comment names, and its line number."""
    text = (DOCS / page).read_text(encoding="utf-8")
    found = []
    previous_end = 0
    for match in BLOCK.finditer(text):
        before = [line for line in text[previous_end : match.start()].splitlines() if line.strip()]
        previous_end = match.end()
        code = match.group("code")
        first = code.splitlines()[0].strip() if code.strip() else ""
        file = FILE_COMMENT.fullmatch(first)
        found.append(
            {
                "lang": match.group("lang"),
                "code": code,
                "skip": bool(before) and "docs-test: skip" in before[-1],
                "file": file.group("path") if file else None,
                "line": text[: match.start("code")].count("\n") + 1,
            }
        )
    return found


@pytest.mark.parametrize("page", PAGES)
def test_python_samples_run(page, tmp_path):
    ran = 0
    for block in blocks(page):
        if block["file"]:
            target = tmp_path / block["file"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block["code"], encoding="utf-8")
        if block["lang"] != "python" or block["skip"]:
            continue
        script = tmp_path / f"_sample_line_{block['line']}.py"
        script.write_text(block["code"], encoding="utf-8")
        try:
            result = subprocess.run(
                [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=120
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"docs/{page}, the python block at line {block['line']} did not finish in 120 s")
        assert result.returncode == 0, (
            f"docs/{page}, the python block at line {block['line']} failed:\n{block['code']}\n{result.stderr}"
        )
        ran += 1
    if page in ("concepts.md", "embedding.md", "learning.md", "hooks.md", "plugins.md"):
        assert ran, f"no python block of docs/{page} ran: is the block parser broken?"


@pytest.mark.parametrize("page", PAGES)
def test_toml_samples_are_valid_himoe_configs(page):
    for block in blocks(page):
        if block["lang"] != "toml":
            continue
        data = tomllib.loads(block["code"])
        if "project" in data or "tool" in data:  # a pyproject.toml, not a himoe config
            continue
        load_config(data)
