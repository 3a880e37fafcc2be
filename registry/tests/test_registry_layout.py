"""Package-level rules: public API, file convention, dependency direction."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import himoe_registry

PACKAGE_DIR = Path(himoe_registry.__file__).parent


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_every_exported_name_exists() -> None:
    for name in himoe_registry.__all__:
        assert hasattr(himoe_registry, name), name


def test_contract_names_are_exported() -> None:
    assert {
        "ExpertId",
        "stable_id",
        "validate_name",
        "NAME_PATTERN",
        "Registry",
        "RegistryError",
        "InvalidName",
        "DuplicateName",
        "IdCollision",
        "PluginSource",
        "discover_entry_points",
        "load_directory",
        "normalize_dist_name",
    } <= set(himoe_registry.__all__)


def test_one_class_per_file_named_after_it() -> None:
    for path in PACKAGE_DIR.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        classes = [node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
        assert len(classes) <= 1, f"{path.name} defines {classes}"
        if classes:
            assert path.stem == snake_case(classes[0]), path.name


def test_never_imports_himoe_core() -> None:
    for path in PACKAGE_DIR.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert not module.startswith("himoe_core"), f"{path.name} imports {module}"


def test_typed_marker_is_shipped() -> None:
    assert (PACKAGE_DIR / "py.typed").exists()
