"""`himoe new-plugin NAME`: generate a working expert plugin distribution from templates.

``new-plugin echo`` writes ``himoe-echo/`` — distribution ``himoe-echo``, package ``himoe_echo``,
its ``himoe`` entry point, an expert ``EchoExpert`` (``experts/<domain>/echo_expert.py``) that
answers ``echo: …`` requests, and tests that pass as generated. The templates are package data
(``himoe_core/_scaffold/templates/*.tmpl``, `string.Template` syntax).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import string
import tomllib
from importlib.resources import files
from pathlib import Path

NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
MAX_NAME_LENGTH = 40
DEFAULT_DOMAIN = "general"
# Package names the core already uses: himoe_core, himoe_registry.
RESERVED_NAMES = frozenset({"core", "registry"})

UV_WORKSPACE_SOURCES = """
# A member of the himoe uv workspace: build against the workspace's own core.
[tool.uv.sources]
himoe = { workspace = true }
"""


def validate_name(name: str, what: str = "plugin name") -> str:
    """`name` if it is a valid plugin (or domain) name, else ValueError saying what is allowed."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        raise ValueError(
            f"invalid {what} {name!r}: use lower-case letters, digits and single underscores, starting "
            f"with a letter, at most {MAX_NAME_LENGTH} characters (e.g. echo, word_count)"
        )
    if what == "plugin name" and name in RESERVED_NAMES:
        raise ValueError(f"invalid plugin name {name!r}: himoe_{name} is part of himoe itself; choose another name")
    return name


def plugin_names(name: str, domain: str = DEFAULT_DOMAIN) -> dict[str, str]:
    """Every name the templates use, derived from the plugin NAME and its expert's domain."""
    validate_name(name)
    validate_name(domain, "domain")
    camel = "".join(part.capitalize() for part in name.split("_"))
    return {
        "name": name,
        "dist": "himoe-" + name.replace("_", "-"),
        "package": f"himoe_{name}",
        "class_name": f"{camel}Expert",
        "module": f"{name}_expert",
        "expert_name": name,
        "domain": domain,
        "prefix": f"{name}:",
    }


def render_plugin(name: str, domain: str = DEFAULT_DOMAIN, *, uv_workspace: bool = False) -> dict[str, str]:
    """``{relative path: text}`` of every file of the plugin, rendered (nothing is written)."""
    names = plugin_names(name, domain)
    values = dict(names, uv_sources=UV_WORKSPACE_SOURCES if uv_workspace else "")
    package, module = names["package"], names["module"]
    layout = {
        "pyproject.toml": "pyproject.toml.tmpl",
        "README.md": "README.md.tmpl",
        ".gitignore": "gitignore.tmpl",
        f"{package}/__init__.py": "package_init.py.tmpl",
        f"{package}/plugin.py": "plugin.py.tmpl",
        f"{package}/experts/__init__.py": "experts_init.py.tmpl",
        f"{package}/experts/{domain}/__init__.py": "domain_init.py.tmpl",
        f"{package}/experts/{domain}/{module}.py": "expert.py.tmpl",
        f"tests/test_{module}.py": "test_expert.py.tmpl",
        f"tests/test_{name}_plugin.py": "test_plugin.py.tmpl",
    }
    rendered = {}
    for path, template in layout.items():
        text = string.Template(read_template(template)).substitute(values)
        rendered[path] = text.rstrip("\n") + "\n"
    return rendered


def read_template(template: str) -> str:
    """The text of one template shipped in ``himoe_core/_scaffold/templates/``."""
    return files("himoe_core._scaffold").joinpath("templates", template).read_text(encoding="utf-8")


def default_directory(name: str) -> Path:
    """Where ``new-plugin NAME`` writes without ``--dir``: ``./himoe-<name>``."""
    return Path(plugin_names(name)["dist"])


def create_plugin(name: str, directory: str | os.PathLike[str] | None = None, domain: str = DEFAULT_DOMAIN) -> Path:
    """Write the plugin into `directory` (default ``./himoe-<name>``) and return that folder.

    Refuses (FileExistsError) to write into a folder that exists and is not empty, and
    ValueError for an invalid name or domain — in both cases before writing anything.
    """
    rendered_names = plugin_names(name, domain)
    target = Path(directory) if directory is not None else Path(rendered_names["dist"])
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{str(target)!r} exists and is not a folder; choose another --dir")
    if target.is_dir() and any(target.iterdir()):
        raise FileExistsError(
            f"folder {str(target)!r} already exists and is not empty; nothing was written "
            "(choose another --dir, or remove it)"
        )
    rendered = render_plugin(name, domain, uv_workspace=in_himoe_uv_workspace(target))
    for relative, text in rendered.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


def in_himoe_uv_workspace(target: Path) -> bool:
    """Whether `target` would be a member of the uv workspace of himoe's own repository (its
    ``plugins/*``): such a plugin needs ``[tool.uv.sources] himoe = { workspace = true }``."""
    target = target.resolve()
    for root in target.parents:
        pyproject = root / "pyproject.toml"
        if not pyproject.is_file():
            continue
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            return False
        members = data.get("tool", {}).get("uv", {}).get("workspace", {}).get("members", [])
        if data.get("project", {}).get("name") != "himoe" or not members:
            continue
        relative = target.relative_to(root).as_posix()
        return any(fnmatch.fnmatchcase(relative, member) for member in members)
    return False


def next_steps(name: str, target: str | os.PathLike[str]) -> str:
    """What to run after generating the plugin, as printed by ``himoe new-plugin``."""
    names = plugin_names(name)
    path = Path(target)
    shown = os.fspath(path) if path.is_absolute() or path.parts[:1] in ((".",), ("..",)) else f"./{path.as_posix()}"
    where = shlex.quote(shown)
    steps = [
        (f"pip install -e {where}", f"install it: himoe finds {names['dist']} through its entry point"),
        (f"pytest {where}", "run its tests (himoe's pytest fixtures come with himoe)"),
        ("himoe list-experts", f"lists {names['expert_name']}, plugin {names['dist']}"),
        (f"himoe run {shlex.quote(names['prefix'] + ' hello')}", f"routed to {names['expert_name']}: prints hello"),
    ]
    width = max(len(command) for command, _ in steps)
    return "\n".join(["next steps:", *(f"  {command.ljust(width)}   # {why}" for command, why in steps)])
