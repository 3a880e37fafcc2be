"""Every distribution of the repository builds into an sdist and a wheel (`python3 dev.py dist`)
carrying complete metadata: licence, readme, URLs, classifiers, Requires-Python, and a lower
bound on every dependency. The core's and the registry's wheels are typed (py.typed)."""

from __future__ import annotations

import email.parser
import re
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["uv"]["workspace"]["members"]
PROJECTS = [
    ROOT,
    *sorted({p.parent for pattern in MEMBERS for p in ROOT.glob(f"{pattern}/pyproject.toml")}),
]  # as dev.py
NAMES = {
    tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"] for folder in PROJECTS
}
TYPED = {"himoe": "himoe_core", "himoe-registry": "himoe_registry"}
URL_LABELS = {"Homepage", "Documentation", "Repository", "Issues", "Changelog"}


def project(folder: Path) -> dict:
    return tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def wheel_metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(archive.read(name).decode()), set(archive.namelist())


def test_every_distribution_is_published_under_one_licence():
    assert {"himoe", "himoe-registry", "himoe-planning", "himoe-math", "himoe-serve"} <= NAMES
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License") and "himoe contributors" in licence
    for folder in PROJECTS:
        assert (folder / "LICENSE").read_text(encoding="utf-8") == licence, f"{folder.name}/LICENSE differs"
    assert (ROOT / "CHANGELOG.md").read_text(encoding="utf-8").count("## [0.1.0]") == 1


@pytest.mark.parametrize("folder", PROJECTS, ids=lambda folder: project(folder)["name"])
def test_the_metadata_is_complete(folder):
    meta = project(folder)
    assert meta["license"] == "MIT" and meta["license-files"] == ["LICENSE"]
    assert meta["readme"] == "README.md" and (folder / "README.md").is_file()
    assert meta["requires-python"] == ">=3.11"
    assert set(meta["urls"]) == URL_LABELS
    assert "Programming Language :: Python :: 3.11" in meta["classifiers"]
    assert meta["description"] and meta["authors"]
    for requirement in map(Requirement, meta["dependencies"]):
        assert any(spec.operator in (">=", "==", "~=") for spec in requirement.specifier), (
            f"{meta['name']}: {requirement} has no lower bound"
        )


def test_dist_builds_an_sdist_and_a_wheel_of_each(built_distributions):
    wheels = {re.sub(r"-0\.1\.0-.*", "", w.name).replace("_", "-"): w for w in built_distributions.glob("*.whl")}
    sdists = {
        re.sub(r"-0\.1\.0\.tar\.gz$", "", s.name).replace("_", "-"): s for s in built_distributions.glob("*.tar.gz")
    }
    assert set(wheels) == set(sdists) == NAMES
    for name, wheel in wheels.items():
        metadata, files = wheel_metadata(wheel)
        assert metadata["License-Expression"] == "MIT", name
        assert any(f.endswith(".dist-info/licenses/LICENSE") for f in files), name
        assert metadata["Requires-Python"] == ">=3.11", name
        assert {url.split(",")[0] for url in metadata.get_all("Project-URL")} == URL_LABELS, name
        assert metadata["Description-Content-Type"] == "text/markdown" and len(metadata.get_payload()) > 500, name
        assert metadata.get_all("Classifier"), name
        if name in TYPED:
            assert f"{TYPED[name]}/py.typed" in files, name
    with tarfile.open(sdists["himoe"]) as sdist:
        top = {Path(member).parts[1] for member in sdist.getnames() if len(Path(member).parts) > 1}
    # the core's sdist is the core: the workspace's plugins, tests, benchmarks and docs stay out
    assert top == {"himoe_core", "README.md", "LICENSE", "CHANGELOG.md", "pyproject.toml", "PKG-INFO", ".gitignore"}
