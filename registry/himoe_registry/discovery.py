"""Plugin discovery with failure isolation.

Two ways in: entry points declared by installed distributions
(:func:`discover_entry_points`) and loose ``*.py`` files in a folder
(:func:`load_directory`).  Both import every plugin they find and return a
:class:`PluginSource` per plugin.  A plugin that fails to import (any
exception, even ``SystemExit``) becomes a record with ``error`` set: one
broken plugin must never take the host application down with it.
``KeyboardInterrupt`` alone is re-raised, so Ctrl-C still works.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import traceback as traceback_module
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import importlib_metadata

from himoe_registry.plugin_source import PluginSource

#: Parent package under which directory plugins are imported.
LOCAL_PLUGIN_PACKAGE = "himoe_local_plugins"

_SEPARATOR_RUN = re.compile(r"[-_.]+")


def normalize_dist_name(name: str) -> str:
    """PEP 503 normal form: lower case, each run of ``-``, ``_``, ``.`` -> ``-``.

    ``normalize_dist_name("Good_Plug.ext") == "good-plug-ext"``.
    """
    return _SEPARATOR_RUN.sub("-", name).lower()


def _describe(exc: BaseException) -> str:
    """``"ExceptionType: message"`` on a single line."""
    cls = type(exc)
    kind = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    try:
        message = str(exc)
    except Exception:  # a plugin's exception with a broken __str__ must not escape
        message = f"<unprintable {cls.__name__}>"
    message = " ".join(part.strip() for part in message.splitlines() if part.strip())
    return f"{kind}: {message}" if message else kind


def _run_isolated(load: Callable[[], object]) -> tuple[object, str | None, str | None]:
    """Call ``load``; return ``(result, None, None)`` or ``(None, error, traceback)``."""
    try:
        return load(), None, None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - SystemExit from a plugin is a plugin failure
        return None, _describe(exc), traceback_module.format_exc()


def _name_set(names: Iterable[str] | None, parameter: str) -> frozenset[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        # A bare string would silently be split into characters.
        raise TypeError(f"{parameter} must be a collection of distribution names, not the str {names!r}")
    return frozenset(normalize_dist_name(name) for name in names)


def _metadata_field(dist: Any, field: str) -> str | None:
    """A metadata value, or None when the file or field is missing or unreadable."""
    # ``dist`` is Any because importlib_metadata's distribution type changed
    # name across the supported versions (Distribution / IDistribution).
    try:
        value = dist.metadata.get(field)
    except Exception:  # noqa: BLE001 - broken metadata on sys.path is common; skip it
        return None
    return value if isinstance(value, str) and value else None


def _folder_name(dist: Any) -> str | None:
    """The normalised name in a distribution's ``NAME-VERSION.dist-info`` (or ``.egg-info``)
    folder, read without its metadata; None for a distribution found otherwise."""
    path = getattr(dist, "_path", None)
    stem, ext = os.path.splitext(os.path.basename(str(path))) if path is not None else ("", "")
    name = stem.partition("-")[0] if ext in (".dist-info", ".egg-info") else ""
    return normalize_dist_name(name) if name else None


def discover_entry_points(
    group: str = "himoe",
    *,
    path: list[str] | None = None,
    allow: frozenset[str] | None = None,
    deny: frozenset[str] = frozenset(),
) -> list[PluginSource]:
    """Import every entry point in ``group`` and report how each went.

    ``path`` lists the folders to search (default ``sys.path``).  When two
    folders hold the same distribution (by normalised name), the first one
    wins, as in ``importlib.metadata``.  ``allow`` (None = everything) and
    ``deny`` select distributions by name; entries are normalised like the
    names (PEP 503), so ``{"Good_Plug"}`` matches ``good-plug``.
    Distributions whose metadata has no ``Name`` cannot be attributed or
    filtered and are skipped.

    Entry points are imported in, and returned in, ``(dist_name, name)``
    order.  For a ``module:attr`` entry point the attribute is resolved (a
    missing one is an error) and ``module`` is the module holding it.
    Never raises because of a plugin.
    """
    allowed = _name_set(allow, "allow")
    denied = _name_set(deny, "deny") or frozenset()
    # importlib_metadata only falls back to sys.path when no path keyword is
    # given at all; an explicit path=None breaks the search.
    dists = importlib_metadata.distributions(path=path) if path is not None else importlib_metadata.distributions()

    seen: set[str] = set()
    # (sort key, ep name, dist name, version, entry point or None, early error)
    pending: list[tuple[str, str, str, str | None, importlib_metadata.EntryPoint | None, str | None]] = []
    seen_folders: set[str] = set()
    for dist in dists:
        # Reading METADATA parses a whole email message (~0.2 ms a distribution: 30 ms on every
        # `himoe` command in a venv of 170), so it is read only for a distribution with a himoe
        # entry point. The first of two copies still wins: by the name of the folder, as
        # importlib_metadata tells copies apart, for those with none.
        folder = _folder_name(dist)
        if folder is not None:
            if folder in seen_folders:
                continue
            seen_folders.add(folder)
        try:
            entry_points, failure = list(dist.entry_points.select(group=group)), None
        except Exception as exc:  # noqa: BLE001 - a malformed entry_points.txt is that dist's failure
            entry_points, failure = [], _describe(exc)
        if not entry_points and failure is None:
            continue
        dist_name = _metadata_field(dist, "Name")
        if dist_name is None:
            continue
        key = normalize_dist_name(dist_name)
        if key in seen:
            continue
        seen.add(key)
        if (allowed is not None and key not in allowed) or key in denied:
            continue
        version = _metadata_field(dist, "Version")
        if failure is not None:
            pending.append((key, dist_name, dist_name, version, None, failure))
            continue
        for ep in entry_points:
            pending.append((key, ep.name, dist_name, version, ep, None))

    # Import in the reported order too, so import side effects are reproducible.
    pending.sort(key=lambda row: (row[0], row[1]))
    results = []
    for _key, name, dist_name, version, ep, early_error in pending:
        if ep is None:
            results.append(PluginSource(name, dist_name, version, "entry-point", error=early_error))
            continue
        loaded, error, tb = _run_isolated(ep.load)
        module = None
        if error is None:
            module = loaded if isinstance(loaded, types.ModuleType) else sys.modules.get(ep.module)
        results.append(PluginSource(name, dist_name, version, "entry-point", module, error, tb))
    return results


def _local_package(directory: Path) -> types.ModuleType:
    """The synthetic parent package of directory plugins, created on first use.

    A real parent in ``sys.modules`` lets pickle, dataclasses and
    ``typing.get_type_hints`` find plugin modules by name; putting the folder
    on its ``__path__`` lets plugins import ``_helper`` siblings with
    ``from himoe_local_plugins import _helper``.
    """
    package = sys.modules.get(LOCAL_PLUGIN_PACKAGE)
    if package is None:
        package = types.ModuleType(LOCAL_PLUGIN_PACKAGE, "Plugins loaded by himoe_registry.load_directory().")
        package.__path__ = []
        sys.modules[LOCAL_PLUGIN_PACKAGE] = package
    folder = str(directory)
    if folder not in package.__path__:
        package.__path__.append(folder)
    return package


def _import_file(module_name: str, file: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot build an import spec for {file}")
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(module_name)
    # Registered before running so the plugin's own classes can find their
    # module (dataclasses, pickle), and removed again if the import fails.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if previous is None:
            sys.modules.pop(module_name, None)
        else:
            sys.modules[module_name] = previous
        raise
    return module


def load_directory(
    directory: str | os.PathLike[str],
    *,
    allow: frozenset[str] | None = None,
    deny: frozenset[str] = frozenset(),
) -> list[PluginSource]:
    """Import each ``*.py`` file in ``directory`` as a plugin, in file-name order.

    Files whose names start with ``_`` are helpers, not plugins, and are
    skipped.  Each file becomes the module ``himoe_local_plugins.<stem>``
    (replacing any earlier module of that name).  Failures are isolated as
    in :func:`discover_entry_points`.  Records have origin
    ``"directory"`` and no dist name or version.

    ``allow`` (None = every file) and ``deny`` select files by their stem,
    normalised like distribution names, *before* importing them: a file left
    out is never run.

    Raises ``FileNotFoundError`` / ``NotADirectoryError`` if ``directory``
    is not an existing folder.
    """
    folder = Path(directory)
    if not folder.exists():
        raise FileNotFoundError(
            f"plugin directory {str(folder)!r} does not exist; create it or point the "
            f"plugin directory setting at an existing folder"
        )
    if not folder.is_dir():
        raise NotADirectoryError(f"plugin directory {str(folder)!r} is a file, not a folder")
    folder = folder.resolve()
    package = _local_package(folder)

    results = []
    allowed = _name_set(allow, "allow")
    denied = _name_set(deny, "deny") or frozenset()
    files = sorted(
        p
        for p in folder.glob("*.py")
        if p.is_file()
        and not p.name.startswith("_")
        and (allowed is None or normalize_dist_name(p.stem) in allowed)
        and normalize_dist_name(p.stem) not in denied
    )
    for file in files:
        module_name = f"{LOCAL_PLUGIN_PACKAGE}.{file.stem}"
        loaded, error, tb = _run_isolated(lambda: _import_file(module_name, file))  # noqa: B023 - called at once
        module = loaded if isinstance(loaded, types.ModuleType) else None
        if module is not None:
            setattr(package, file.stem, module)
        results.append(PluginSource(file.stem, None, None, "directory", module, error, tb))
    return results
