"""The public API, split by audience: `himoe_core` for applications and expert plugins (at most
25 names), `himoe_core.routing` for router, aggregator, orchestrator and encoder authors,
`himoe_core.testing` for tests, and `himoe_core.plugins` / `himoe_core.state` for tools.

A class is public when neither its name nor any part of its module path starts with ``_``. It must be
importable from one of those namespaces; anything else is an internal helper and must be listed in
INTERNAL, with a reason.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import himoe_core

ROOT = Path(__file__).resolve().parents[1]

# Namespaces users import from directly (each documented in its own docstring and in docs/).
NAMESPACES = {
    "himoe_core": "applications and expert plugin authors",
    "himoe_core.routing": "router, aggregator, orchestrator and encoder authors",
    "himoe_core.testing": "fault-injecting experts and helpers for plugin authors' and users' tests",
    "himoe_core.plugins": "the plugin host's parts (PluginHost, PluginSettings) for tools that inspect plugins",
    "himoe_core.state": "the state store (SQLite or PostgreSQL), for tools that read learned state, traces and the decision log",
}

# Classes in public packages that are deliberately not exported (everything in a `_` package is
# internal by its name).
INTERNAL: dict[str, str] = {}


def public_classes() -> list[tuple[str, str]]:
    """(module, class name) of every public top-level class in himoe_core, found with ast."""
    found = []
    package_root = ROOT / "himoe_core"
    for path in sorted(package_root.rglob("*.py")):
        relative = path.relative_to(ROOT).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        if any(part.startswith("_") for part in parts) or "__pycache__" in parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                found.append((".".join(parts), node.name))
    return found


def test_every_name_in_all_exists():
    for name in NAMESPACES:
        module = importlib.import_module(name)
        missing = [item for item in module.__all__ if not hasattr(module, item)]
        assert not missing, f"{name}.__all__ names missing from it: {missing}"
        assert len(module.__all__) == len(set(module.__all__)), f"duplicates in {name}.__all__"


def test_the_application_namespace_is_small():
    assert len(himoe_core.__all__) <= 25, himoe_core.__all__
    for name in [
        "HiMoE",
        "Response",
        "Decision",
        "Value",
        "InputData",
        "Context",
        "CancelToken",
        "MoeError",
        "InvalidInput",
        "NoExpertSelected",
        "DeadlineExceeded",
        "hookimpl",
        "ExpertOut",
        "ExpertAux",
    ]:
        assert name in himoe_core.__all__, name


def test_router_authors_find_everything_in_routing():
    from himoe_core import routing

    for name in [
        "Router",
        "BaseRouter",
        "LearningRouter",
        "GateScores",
        "GatingPolicy",
        "RouterFeedback",
        "CallOutcome",
        "Aggregator",
        "AggregatedOut",
        "MixMeta",
        "Orchestrator",
        "Encoder",
        "Encoded",
        "HashingEncoder",
        "ExpertRef",
        "stable_id",
        "entropy",
        "cv_squared",
    ]:
        assert name in routing.__all__, name


def test_all_and_the_lazy_table_come_from_the_type_checking_block():
    """One list of exports per namespace: what type checkers read is what `__all__` says."""
    for name in ("himoe_core", "himoe_core.routing", "himoe_core.testing", "himoe_core.state"):
        module = importlib.import_module(name)
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        block = next(
            node for node in tree.body if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
        )
        listed = {alias.asname or alias.name for statement in block.body for alias in statement.names}
        assert listed == set(module.__all__), name


def test_every_public_class_is_reachable():
    classes = public_classes()
    assert len(classes) > 10, "the scan found too few classes"
    namespaces = {name: importlib.import_module(name) for name in NAMESPACES}
    unreachable = []
    for module_name, class_name in classes:
        qualified = f"{module_name}.{class_name}"
        if qualified in INTERNAL:
            continue
        cls = getattr(importlib.import_module(module_name), class_name)
        if any(
            class_name in getattr(namespace, "__all__", ()) and getattr(namespace, class_name) is cls
            for namespace in namespaces.values()
        ):
            continue
        unreachable.append(qualified)
    assert not unreachable, (
        "public classes that users cannot import from a public namespace (export them there, or list them "
        "in INTERNAL with a reason):\n  " + "\n  ".join(unreachable)
    )


def test_internal_list_is_not_stale():
    known = {f"{module}.{name}" for module, name in public_classes()}
    stale = [name for name in INTERNAL if name not in known]
    assert not stale, f"INTERNAL names classes that no longer exist: {stale}"
    namespaces = [importlib.import_module(name) for name in NAMESPACES]
    exported = [
        name for name in INTERNAL if any(name.rsplit(".", 1)[1] in getattr(ns, "__all__", ()) for ns in namespaces)
    ]
    assert not exported, f"INTERNAL names classes that are exported after all: {exported}"


def test_internals_are_private_packages():
    """Everything but the public namespaces lives in `_`-prefixed packages and modules."""
    public = {
        "__init__.py",
        "__main__.py",
        "routing.py",
        "py.typed",
        "plugins",
        "state",
        "testing",
        "demo",
        "__pycache__",
    }
    for entry in (ROOT / "himoe_core").iterdir():
        assert entry.name in public or entry.name.startswith("_"), (
            f"himoe_core/{entry.name} is neither public nor private"
        )


def test_first_party_code_imports_only_public_namespaces():
    """The plugins, the server and the docs' examples use what a third party can use."""
    offenders = []
    roots = [*(ROOT / "plugins").glob("*/himoe_*"), ROOT / "serve" / "himoe_serve", ROOT / "docs"]
    for root in roots:
        for path in root.rglob("*.py"):
            for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if "himoe_core._" in line:
                    offenders.append(f"{path.relative_to(ROOT)}:{line_no}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_importing_himoe_core_loads_no_plugin_and_no_heavy_library():
    code = (
        "import sys, himoe_core\n"
        "heavy = {'spacy', 'sklearn', 'torch', 'sympy', 'httpx', 'lingua', 'himoe_planning'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
