"""The documentation site builds with `mkdocs build --strict` (no warning: broken links, missing
anchors and pages left out of the nav all fail), and its nav and pages agree."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MKDOCS_YML = ROOT / "mkdocs.yml"


def nav_pages() -> list[str]:
    """The pages of mkdocs.yml's nav (`  - Title: page.md`), read without a YAML parser."""
    text = MKDOCS_YML.read_text(encoding="utf-8")
    nav = text.split("\nnav:\n", 1)[1]
    return re.findall(r"^\s+- [^:\n]+:\s*(\S+\.md)\s*$", nav, re.M)


def test_the_nav_lists_every_page_and_only_existing_ones():
    pages = nav_pages()
    assert "index.md" in pages and "configuration.md" in pages
    missing = [page for page in pages if not (DOCS / page).is_file()]
    assert not missing, f"mkdocs.yml lists pages that do not exist: {missing}"
    unlisted = sorted(str(p.relative_to(DOCS)) for p in DOCS.glob("*.md") if p.name not in pages)
    assert not unlisted, f"pages missing from mkdocs.yml's nav: {unlisted}"


def test_the_config_is_strict_and_uses_no_plugin_or_theme_package():
    text = MKDOCS_YML.read_text(encoding="utf-8")
    assert re.search(r"^strict: true$", text, re.M)
    assert re.search(r"^docs_dir: docs$", text, re.M)
    assert not re.search(r"^plugins:", text, re.M), "no mkdocs plugin: the build needs only mkdocs itself"
    assert re.search(r"^  name: (mkdocs|readthedocs)$", text, re.M), "a theme built into mkdocs"


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None,
    reason="mkdocs is not installed in this environment (it is in the `dev` dependency group)",
)
def test_mkdocs_build_strict_passes(tmp_path):
    site = tmp_path / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(MKDOCS_YML),
            "--site-dir",
            str(site),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output, output
    for page in nav_pages():
        built = site / ("index.html" if page == "index.md" else page.removesuffix(".md") + "/index.html")
        assert built.is_file(), f"{page} was not built ({built})"
    for example in ("sync_script.py", "trio_app.py", "asyncio_app.py"):  # linked from embedding.md
        assert (site / "examples" / "embedding" / example).is_file()
