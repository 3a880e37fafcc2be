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


def test_the_config_is_strict_and_uses_only_mkdocstrings_and_a_built_in_theme():
    text = MKDOCS_YML.read_text(encoding="utf-8")
    assert re.search(r"^strict: true$", text, re.M)
    assert re.search(r"^docs_dir: docs$", text, re.M)
    plugins = re.search(r"^plugins:\n((?:  .*\n)+)", text, re.M)
    assert plugins is not None
    assert re.findall(r"^  - (\w+)", plugins.group(1), re.M) == ["search", "mkdocstrings"], (
        "plugins: mkdocs' own search and mkdocstrings (the API reference), both in the dev group"
    )
    assert re.search(r"^  name: (mkdocs|readthedocs)$", text, re.M), "a theme built into mkdocs"


# Each public namespace and its API reference page (its members listed there: they are exported lazily).
API_PAGES = {
    "himoe_core": "api/himoe_core.md",
    "himoe_core.routing": "api/routing.md",
    "himoe_core.testing": "api/testing.md",
    "himoe_core.plugins": "api/plugins.md",
    "himoe_core.state": "api/state.md",
}


def test_every_public_namespace_has_an_api_page_in_the_nav():
    assert set(API_PAGES.values()) <= set(nav_pages())


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None:
        pytest.skip("mkdocs and mkdocstrings are not installed in this environment (they are in the `dev` group)")
    site = tmp_path_factory.mktemp("docs") / "site"
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
    return site, result.stdout + result.stderr + f"\nexit code {result.returncode}"


def test_mkdocs_build_strict_passes(built_site: tuple[Path, str]) -> None:
    site, output = built_site
    assert output.endswith("exit code 0"), output
    assert "WARNING" not in output, output
    for page in nav_pages():
        built = site / ("index.html" if page == "index.md" else page.removesuffix(".md") + "/index.html")
        assert built.is_file(), f"{page} was not built ({built})"
    for example in ("sync_script.py", "trio_app.py", "asyncio_app.py"):  # linked from embedding.md
        assert (site / "examples" / "embedding" / example).is_file()


@pytest.mark.parametrize("namespace", sorted(API_PAGES))
def test_the_api_reference_lists_every_export_of_its_namespace(built_site: tuple[Path, str], namespace: str) -> None:
    site, _ = built_site
    html = (site / API_PAGES[namespace].removesuffix(".md") / "index.html").read_text(encoding="utf-8")
    documented = set(re.findall(r'id="([^"]+)"', html))
    exports = importlib.import_module(namespace).__all__
    missing = [name for name in exports if f"{namespace}.{name}" not in documented]
    assert not missing, (
        f"docs/{API_PAGES[namespace]} does not document {missing}: add them to the page's `members:` list "
        "(or give a constant a docstring)"
    )
