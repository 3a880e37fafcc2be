"""The public API: `himoe_core.__all__` is real, and every public class is reachable by users.

A class is public when neither its name nor any part of its module path starts with ``_``. It must be
importable from ``himoe_core`` itself, or be in the ``__all__`` of one of the documented public
subpackages below; anything else is an internal helper and must be listed in INTERNAL, with a reason.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import himoe_core

ROOT = Path(__file__).resolve().parents[1]

# Subpackages users import from directly (each documented in its own docstring and in docs/).
DOCUMENTED_SUBPACKAGES = {
    "himoe_core.plugins": "the plugin host's parts (PluginSettings) for tools that inspect plugins",
    "himoe_core.testing": "fault-injecting experts for plugin authors' and users' tests",
    "himoe_core.learning": "the learning models (LinUCB arms, bandit scores) for router authors",
    "himoe_core.state": "the SQLite state store, for tools that read learned state and traces",
}

# Classes that are deliberately not part of the public API.
INTERNAL = {
    "himoe_core.engine.background_loop.BackgroundLoop": "the engine's private trio thread for run_sync",
    "himoe_core.engine.explicit_experts.ExplicitExperts": "the plugin object wrapping HiMoE(experts=[...])",
    "himoe_core.engine.route_attempt.RouteAttempt": "one router attempt, kept inside the engine",
    "himoe_core.engine.feedback_trainer.FeedbackTrainer": "HiMoE.feedback's machinery (moe.trainer)",
    "himoe_core.engine.trace_writer.TraceWriter": "the trainer's write-behind thread for traces",
    "himoe_core.cli.command_parser.CommandParser": "the himoe command's argparse parser (one-line usage errors)",
    "himoe_core.engine.request_slots.RequestSlots": "the admission queue behind [himoe] max_in_flight",
    "himoe_core.engine.lag_limit.LagLimit": "the adaptive limit behind [himoe] max_in_flight = \"auto\"",
    "himoe_core.engine.trace_record.TraceRecord": "how TraceStore keeps a trace, rendered when read, frozen when old (users get dicts)",
}


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
    missing = [name for name in himoe_core.__all__ if not hasattr(himoe_core, name)]
    assert not missing, f"himoe_core.__all__ names missing from the package: {missing}"
    assert len(himoe_core.__all__) == len(set(himoe_core.__all__)), "duplicates in himoe_core.__all__"


def test_the_core_contracts_are_exported():
    for name in ["InputData", "Value", "Plan", "PlanStep", "Context", "CancelToken", "Memory", "Expert",
                 "ExpertOut", "ExpertAux", "ExpertRef", "ExpertRegistry", "MoeError", "DeadlineExceeded",
                 "BudgetExceeded", "EncodeError", "ExpertFailed", "NoExpertSelected", "AggregationFailed",
                 "InvalidInput", "PluginError", "ConfigError", "hookimpl", "hookspec", "PluginHost",
                 "stable_id", "ExpertId", "to_value", "convert", "__version__"]:
        assert name in himoe_core.__all__, name


def test_every_public_class_is_reachable():
    classes = public_classes()
    assert len(classes) > 40, "the scan found too few classes"
    unreachable = []
    for module_name, class_name in classes:
        qualified = f"{module_name}.{class_name}"
        if qualified in INTERNAL:
            continue
        cls = getattr(importlib.import_module(module_name), class_name)
        if getattr(himoe_core, class_name, None) is cls:
            continue
        if any(class_name in getattr(importlib.import_module(sub), "__all__", ()) and
               getattr(importlib.import_module(sub), class_name) is cls
               for sub in DOCUMENTED_SUBPACKAGES if module_name.startswith(sub + ".")):
            continue
        unreachable.append(qualified)
    assert not unreachable, (
        "public classes that users cannot import from himoe_core (export them in himoe_core/__init__.py, "
        "or in a documented subpackage's __all__, or list them in INTERNAL with a reason):\n  "
        + "\n  ".join(unreachable)
    )


def test_internal_list_is_not_stale():
    known = {f"{module}.{name}" for module, name in public_classes()}
    stale = [name for name in INTERNAL if name not in known]
    assert not stale, f"INTERNAL names classes that no longer exist: {stale}"
    exported = [name for name in INTERNAL if hasattr(himoe_core, name.rsplit(".", 1)[1])]
    assert not exported, f"INTERNAL names classes that are exported after all: {exported}"


def test_documented_subpackages_have_docstrings_and_all():
    for name in DOCUMENTED_SUBPACKAGES:
        if not (ROOT / Path(*name.split("."))).is_dir():
            continue
        module = importlib.import_module(name)
        assert module.__all__, name
        assert all(hasattr(module, item) for item in module.__all__), name


def test_importing_himoe_core_loads_no_plugin_and_no_heavy_library():
    code = (
        "import sys, himoe_core\n"
        "heavy = {'spacy', 'sklearn', 'torch', 'sympy', 'httpx', 'lingua', 'himoe_planning'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
