"""The user's file convention (docs/architecture.md), checked over the source tree with `ast` (nothing is imported).

- at most one top-level class per file;
- a file that defines a class is named after it in snake_case (``AggregatedOut`` -> ``aggregated_out.py``;
  acronyms: ``HTTPCaller`` -> ``http_caller.py``; the simple rule ``OpenAIChatExpert`` ->
  ``openai_chat_expert.py``, i.e. the name lower-cased with underscores between words, is accepted too);
- every ``typing.Protocol`` or ABC lives in a file ending ``_trait.py`` (``Expert`` -> ``expert_trait.py``),
  and every ``*_trait.py`` defines one;
- the experts of a plugin live under ``experts/<domain>/``;
- himoe_core has a folder per component.

Scope: every .py file of ``himoe_core/``, ``registry/himoe_registry/``, ``serve/himoe_serve/`` and
``plugins/*/himoe_*/``
(tests, benchmarks and docs are outside those folders).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPONENT_FOLDERS = ("_orchestrator", "_router", "_experts", "_aggregator", "_encoder", "_context", "_value")
PROTOCOL_BASES = {"Protocol", "ABC"}
ABC_METACLASSES = {"ABCMeta"}


# -- the checker ---------------------------------------------------------------------------------------------
def snake_case(name: str) -> str:
    """CamelCase -> snake_case, keeping acronyms together: HTTPCaller -> http_caller, HiMoE -> hi_mo_e."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return name.lower()


def file_names_for(class_name: str) -> set[str]:
    """The accepted file stems for a class (without the `_trait` suffix)."""
    public = class_name.lstrip("_")
    return {snake_case(public)}


def name_matches(stem: str, class_name: str) -> bool:
    """The strict snake_case form, or the simple rule: the stem without underscores is the name
    lower-cased (HiMoE -> himoe.py, OpenAIChatExpert -> openai_chat_expert.py)."""
    public = class_name.lstrip("_")
    stem = stem.lstrip("_")
    return stem in file_names_for(public) or (stem == stem.lower() and stem.replace("_", "") == public.lower())


def top_level_classes(tree: ast.Module) -> list[ast.ClassDef]:
    """Classes defined at module level, including inside module-level if/try/with blocks."""
    found: list[ast.ClassDef] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                found.append(node)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(node, field, []) or [])
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(tree.body)
    return found


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Subscript):  # Protocol[T], Generic[T]
        node = node.value
    if isinstance(node, ast.Attribute):  # typing.Protocol, abc.ABC
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def is_trait(cls: ast.ClassDef) -> bool:
    """A typing.Protocol or an ABC (by base class or metaclass)."""
    if any(_base_name(base) in PROTOCOL_BASES for base in cls.bases):
        return True
    return any(kw.arg == "metaclass" and _base_name(kw.value) in ABC_METACLASSES for kw in cls.keywords)


def is_expert(cls: ast.ClassDef) -> bool:
    """An expert class: it defines both can_handle and infer, or its name ends in Expert."""
    methods = {n.name for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return not is_trait(cls) and ({"can_handle", "infer"} <= methods or cls.name.endswith("Expert"))


def check_file(path: Path, package_root: Path, *, plugin: bool) -> list[str]:
    """Why `path` breaks the convention (empty when it does not). `package_root` is the import package."""
    problems: list[str] = []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    classes = top_level_classes(tree)
    stem = path.stem
    if len(classes) > 1:
        problems.append(
            f"defines {len(classes)} top-level classes ({', '.join(c.name for c in classes)}); one class per file"
        )
    traits = [c for c in classes if is_trait(c)]
    if stem.endswith("_trait") and not traits:
        problems.append("is a *_trait.py file but defines no Protocol or ABC")
    for cls in classes:
        if is_trait(cls):
            if not stem.endswith("_trait"):
                problems.append(
                    f"defines the trait {cls.name} (Protocol/ABC) outside a *_trait.py file; "
                    f"move it to {snake_case(cls.name)}_trait.py"
                )
            elif not name_matches(stem.removesuffix("_trait"), cls.name):
                problems.append(f"defines the trait {cls.name}; the file should be {snake_case(cls.name)}_trait.py")
        elif len(classes) == 1 and not name_matches(stem, cls.name):  # several: the split comes first
            problems.append(f"defines class {cls.name}; the file should be {snake_case(cls.name)}.py")
        if plugin and is_expert(cls):
            parts = path.relative_to(package_root).parts
            if len(parts) < 3 or parts[-3] != "experts":
                problems.append(f"defines the expert {cls.name} outside experts/<domain>/")
    return problems


def source_files(top: Path = ROOT) -> list[tuple[Path, Path, bool]]:
    """(file, package root, is a plugin) for every file under the convention."""
    roots = [
        (top / "himoe_core", False),
        (top / "registry" / "himoe_registry", False),
        (top / "serve" / "himoe_serve", False),
    ]
    roots += [(p, True) for p in sorted((top / "plugins").glob("*/himoe_*")) if p.is_dir()]
    files = []
    for root, plugin in roots:
        for path in sorted(root.rglob("*.py")):
            if any(part in {"tests", "benchmarks", "docs", "__pycache__"} for part in path.relative_to(root).parts):
                continue
            files.append((path, root, plugin))
    return files


def violations(top: Path = ROOT) -> list[str]:
    report = []
    for path, root, plugin in source_files(top):
        for problem in check_file(path, root, plugin=plugin):
            report.append(f"{path.relative_to(top).as_posix()}: {problem}")
    return report


# -- the convention holds -----------------------------------------------------------------------------------
def test_the_tree_follows_the_file_convention():
    files = source_files()
    assert len(files) > 50, "the scan found too few files: is ROOT right?"
    assert any(root.name == "himoe_planning" for _, root, _ in files)
    assert any(root.name == "himoe_serve" for _, root, _ in files)
    problems = violations()
    assert not problems, "files that break the convention (docs/architecture.md):\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("folder", COMPONENT_FOLDERS)
def test_component_folders_exist(folder):
    package = ROOT / "himoe_core" / folder
    assert package.is_dir() and (package / "__init__.py").is_file(), f"himoe_core/{folder}/ is missing"


def test_core_traits_are_where_the_design_says():
    for relative, name in [
        ("_experts/expert_trait.py", "Expert"),
        ("_router/router_trait.py", "Router"),
        ("_orchestrator/orchestrator_trait.py", "Orchestrator"),
        ("_aggregator/aggregator_trait.py", "Aggregator"),
        ("_encoder/encoder_trait.py", "Encoder"),
        ("_experts/expert_registry_trait.py", "ExpertRegistry"),
    ]:
        tree = ast.parse((ROOT / "himoe_core" / relative).read_text(encoding="utf-8"))
        [cls] = top_level_classes(tree)
        assert (cls.name, is_trait(cls)) == (name, True), relative


# -- the checker catches what it must (so that the test above can fail) ---------------------------------------
@pytest.mark.parametrize(
    "name, expected",
    [
        ("AggregatedOut", "aggregated_out"),
        ("HTTPCaller", "http_caller"),
        ("Value", "value"),
        ("ExpertId", "expert_id"),
        ("OpenAIChatExpert", "open_ai_chat_expert"),
        ("PlanStep", "plan_step"),
        ("NLPTagger2", "nlp_tagger2"),
    ],
)
def test_snake_case(name, expected):
    assert snake_case(name) == expected


@pytest.mark.parametrize(
    "stem, name, ok",
    [
        ("http_caller", "HTTPCaller", True),
        ("himoe", "HiMoE", True),
        ("openai_chat_expert", "OpenAIChatExpert", True),
        ("aggregated_out", "AggregatedOut", True),
        ("aggregatedout", "AggregatedOut", True),
        ("aggregated", "AggregatedOut", False),
        ("out_aggregated", "AggregatedOut", False),
        ("AggregatedOut", "AggregatedOut", False),
        ("helpers", "Value", False),
    ],
)
def test_name_matching(stem, name, ok):
    assert name_matches(stem, name) is ok


def write(tmp_path: Path, relative: str, source: str) -> Path:
    path = tmp_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path


def test_checker_flags_two_classes_in_one_file(tmp_path):
    path = write(tmp_path, "pkg/thing.py", "class Thing:\n    pass\n\n\nclass _Helper:\n    pass\n")
    assert check_file(path, tmp_path / "pkg", plugin=False) == [
        "defines 2 top-level classes (Thing, _Helper); one class per file"
    ]


def test_checker_flags_a_class_hidden_in_a_module_level_if(tmp_path):
    path = write(tmp_path, "pkg/thing.py", "class Thing:\n    pass\n\nif True:\n    class Other:\n        pass\n")
    assert any("2 top-level classes" in p for p in check_file(path, tmp_path / "pkg", plugin=False))


def test_checker_ignores_nested_classes(tmp_path):
    path = write(tmp_path, "pkg/thing.py", "class Thing:\n    class Meta:\n        pass\n")
    assert check_file(path, tmp_path / "pkg", plugin=False) == []


def test_checker_flags_a_misnamed_file(tmp_path):
    path = write(tmp_path, "pkg/helpers.py", "class AggregatedOut:\n    pass\n")
    assert check_file(path, tmp_path / "pkg", plugin=False) == [
        "defines class AggregatedOut; the file should be aggregated_out.py"
    ]


@pytest.mark.parametrize(
    "source",
    [
        "from typing import Protocol\n\nclass Router(Protocol):\n    pass\n",
        "import typing\n\nclass Router(typing.Protocol):\n    pass\n",
        "from typing import Protocol, TypeVar\nT = TypeVar('T')\n\nclass Router(Protocol[T]):\n    pass\n",
        "from abc import ABC\n\nclass Router(ABC):\n    pass\n",
        "import abc\n\nclass Router(metaclass=abc.ABCMeta):\n    pass\n",
    ],
)
def test_checker_flags_a_trait_outside_a_trait_file(tmp_path, source):
    path = write(tmp_path, "pkg/router.py", source)
    assert check_file(path, tmp_path / "pkg", plugin=False) == [
        "defines the trait Router (Protocol/ABC) outside a *_trait.py file; move it to router_trait.py"
    ]
    good = write(tmp_path, "pkg/router_trait.py", source)
    assert check_file(good, tmp_path / "pkg", plugin=False) == []


def test_checker_flags_a_trait_file_without_a_trait(tmp_path):
    path = write(tmp_path, "pkg/router_trait.py", "class Router:\n    pass\n")
    assert "is a *_trait.py file but defines no Protocol or ABC" in check_file(path, tmp_path / "pkg", plugin=False)
    empty = write(tmp_path, "pkg/encoder_trait.py", "def f():\n    pass\n")
    assert check_file(empty, tmp_path / "pkg", plugin=False) == ["is a *_trait.py file but defines no Protocol or ABC"]


def test_checker_flags_a_misnamed_trait_file(tmp_path):
    path = write(tmp_path, "pkg/routing_trait.py", "from typing import Protocol\n\nclass Router(Protocol):\n    pass\n")
    assert check_file(path, tmp_path / "pkg", plugin=False) == [
        "defines the trait Router; the file should be router_trait.py"
    ]


def test_checker_flags_a_plugin_expert_outside_experts_domain(tmp_path):
    expert = "class TaggerExpert:\n    def can_handle(self, task):\n        return True\n"
    root = tmp_path / "himoe_x"
    misplaced = write(tmp_path, "himoe_x/tagger_expert.py", expert)
    assert check_file(misplaced, root, plugin=True) == ["defines the expert TaggerExpert outside experts/<domain>/"]
    no_domain = write(tmp_path, "himoe_x/experts/tagger_expert.py", expert)
    assert check_file(no_domain, root, plugin=True) == ["defines the expert TaggerExpert outside experts/<domain>/"]
    placed = write(tmp_path, "himoe_x/experts/nlp/tagger_expert.py", expert)
    assert check_file(placed, root, plugin=True) == []
    planner = (
        "class RulePlanner:\n    def can_handle(self, task):\n        return True\n"
        "    async def infer(self, x, ctx):\n        return None\n"
    )
    loose = write(tmp_path, "himoe_x/rule_planner.py", planner)
    assert check_file(loose, root, plugin=True) == ["defines the expert RulePlanner outside experts/<domain>/"]


def test_the_failure_message_lists_each_file_and_why(tmp_path):
    write(tmp_path, "himoe_core/thing.py", "class Wrong:\n    pass\n")
    write(tmp_path, "himoe_core/a_trait.py", "x = 1\n")
    write(
        tmp_path,
        "plugins/himoe-x/himoe_x/loose_expert.py",
        "class LooseExpert:\n    def can_handle(self, t):\n        return 1\n    def infer(self, x, c):\n        return 1\n",
    )
    write(tmp_path, "plugins/himoe-x/tests/test_ignored.py", "class A:\n    pass\nclass B:\n    pass\n")
    report = violations(tmp_path)
    assert report == [
        "himoe_core/a_trait.py: is a *_trait.py file but defines no Protocol or ABC",
        "himoe_core/thing.py: defines class Wrong; the file should be wrong.py",
        "plugins/himoe-x/himoe_x/loose_expert.py: defines the expert LooseExpert outside experts/<domain>/",
    ]
