"""Package attributes imported on first use (PEP 562), so that `import himoe_core` — and so
`himoe list-experts` — does not pay for trio, the routers or the engine until they are used.

A public namespace lists what it exports once, as the `if TYPE_CHECKING:` imports that type
checkers read (``from .x import Y as Y``); `public_namespace` reads that same block to build the
lazy table and `__all__`, so the three can never disagree."""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def lazy_exports(package: str, table: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, resolving each exported name from the module
    given in `table` (relative to the package, e.g. ".router.gating"; "module:attribute" where
    the module's own name for it differs)."""

    def __getattr__(name: str) -> Any:
        origin = table.get(name)
        if origin is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = origin.partition(":")
        value = getattr(importlib.import_module(module, package), attribute or name)
        vars(sys.modules[package])[name] = value  # cache: later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__


def public_namespace(module: str) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """`__getattr__`, `__dir__` and `__all__` of a public namespace, from the relative imports
    of its own `if TYPE_CHECKING:` block (an absolute import there is an eager one's twin and
    is exported as it is)."""
    namespace = sys.modules[module]
    assert namespace.__file__ is not None and namespace.__spec__ is not None, f"{module} is loaded from a file"
    spec = namespace.__spec__
    source = Path(namespace.__file__).read_text(encoding="utf-8")
    table: dict[str, tuple[str, str]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom):
                    origin = "." * statement.level + (statement.module or "")
                    for alias in statement.names:
                        table[alias.asname or alias.name] = (origin, alias.name)
    # relative to the package the module is in (itself, for a package's __init__)
    package = module if spec.submodule_search_locations else module.rpartition(".")[0]
    getattr_, dir_ = lazy_exports(
        module, {name: f"{_absolute(origin, package)}:{attribute}" for name, (origin, attribute) in table.items()}
    )
    return getattr_, dir_, sorted(table, key=lambda name: (name.startswith("_"), name.lower()))


def _absolute(origin: str, package: str) -> str:
    """A relative import written in a module (not a package) of `package`, made absolute."""
    if not origin.startswith("."):
        return origin
    level = len(origin) - len(origin.lstrip("."))
    base = package.split(".")
    return ".".join(base[: len(base) - level + 1]) + "." + origin.lstrip(".")
