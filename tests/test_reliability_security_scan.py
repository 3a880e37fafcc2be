"""No code path turns data into code: an AST scan of every .py file of the core, the registry and
the first-party plugins for eval/exec/compile/__import__, pickle/marshal/shelve-style loaders,
yaml.load, shell commands, dynamic imports and disabled TLS checks.

Each allowed use is listed in ALLOWED with the reason it is safe; anything else fails with the
file, line and call. The scanner itself is tested on a snippet with one of each pattern.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [ROOT / "himoe_core", ROOT / "registry" / "himoe_registry", *sorted(ROOT.glob("plugins/*/himoe_*"))]

BUILTINS = {"eval", "exec", "compile", "__import__", "breakpoint"}
# Calls that deserialise code or objects, run a shell, or load code (qualified names).
DANGEROUS = {
    "pickle.load",
    "pickle.loads",
    "pickle.Unpickler",
    "_pickle.load",
    "_pickle.loads",
    "cPickle.loads",
    "marshal.load",
    "marshal.loads",
    "shelve.open",
    "dill.load",
    "dill.loads",
    "cloudpickle.load",
    "cloudpickle.loads",
    "joblib.load",
    "jsonpickle.decode",
    "pandas.read_pickle",
    "torch.load",
    "yaml.load",
    "yaml.unsafe_load",
    "yaml.full_load",
    "yaml.load_all",
    "yaml.unsafe_load_all",
    "os.system",
    "os.popen",
    "os.execv",
    "os.execve",
    "os.execl",
    "os.execlp",
    "os.execvp",
    "os.spawnl",
    "os.spawnv",
    "os.startfile",
    "pty.spawn",
    "asyncio.create_subprocess_shell",
    "tempfile.mktemp",
    "ssl._create_unverified_context",
    "importlib.import_module",
    "importlib.__import__",
    "importlib.util.spec_from_file_location",
    "runpy.run_path",
    "runpy.run_module",
    "code.interact",
    "code.InteractiveInterpreter",
}
SUBPROCESS = {
    "subprocess.run",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
    "subprocess.Popen",
    "subprocess.getoutput",
    "subprocess.getstatusoutput",
}
DANGEROUS_MODULES = {"pickle", "_pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle", "jsonpickle"}

# (path relative to the repository, qualified call) -> why it is safe
ALLOWED = {
    (
        "himoe_core/_lazy_exports.py",
        "importlib.import_module",
    ): "imports the core's own submodules, named by each package's constant _EXPORTS table",
    (
        "himoe_core/plugins/default_plugin.py",
        "importlib.import_module",
    ): "imports a built-in router module named by the constant ROUTER_CLASSES table",
    (
        "registry/himoe_registry/discovery.py",
        "importlib.util.spec_from_file_location",
    ): "loads the *.py plugins of the folder the user configured (--plugins-dir, [himoe] plugins_dir): "
    "running that local code is the feature; HIMOE_LOAD_PLUGINS / HIMOE_DISABLE_PLUGINS filter it",
    (
        "plugins/himoe-ray/himoe_ray/expert_building.py",
        "importlib.import_module",
    ): 'imports the expert class the user\'s own config names by import path ([ray.experts."module:Class"]): '
    "running that code, in this process and in its Ray replicas, is the feature",
}


def qualified_names(tree: ast.AST) -> dict[str, str]:
    """Local name -> qualified name, from the file's imports (`import numpy as np`,
    `from pickle import loads as l`)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[(alias.asname or alias.name).split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def dotted(node: ast.expr, names: dict[str, str]) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    root = names.get(node.id, node.id)
    return ".".join([root, *reversed(parts)])


def _truthy_keyword(call: ast.Call, name: str) -> bool:
    for keyword in call.keywords:
        if keyword.arg == name:
            return not (isinstance(keyword.value, ast.Constant) and not keyword.value.value)
    return False


def _falsy_keyword(call: ast.Call, name: str) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is False for k in call.keywords)


def findings(source: str, filename: str = "<snippet>") -> list[tuple[int, str]]:
    """(line, qualified call or import) for every dangerous use in `source`."""
    tree = ast.parse(source, filename)
    names = qualified_names(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                if module.split(".")[0] in DANGEROUS_MODULES:
                    found.append((node.lineno, f"import {module}"))
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func, names)
        if name is None:
            continue
        if isinstance(node.func, ast.Name) and node.func.id in BUILTINS and node.func.id not in names:
            found.append((node.lineno, node.func.id))
        elif name in DANGEROUS or name.startswith(("os.exec", "os.spawn")):
            if name.startswith("yaml.load") and any(
                k.arg == "Loader" and "Safe" in ast.unparse(k.value) for k in node.keywords
            ):
                continue
            found.append((node.lineno, name))
        elif name in SUBPROCESS and _truthy_keyword(node, "shell"):
            found.append((node.lineno, f"{name}(shell=True)"))
        elif (
            name.split(".")[-1] == "load"
            and name.split(".")[0] in {"numpy", "np"}
            and _truthy_keyword(node, "allow_pickle")
        ):
            found.append((node.lineno, f"{name}(allow_pickle=True)"))
        elif _falsy_keyword(node, "verify"):
            found.append((node.lineno, f"{name}(verify=False)"))
        elif isinstance(node.func, ast.Attribute) and node.func.attr == "exec_module":
            found.append((node.lineno, "<loader>.exec_module"))
    return sorted(found)


def python_files() -> list[Path]:
    files = [path for package in PACKAGES for path in sorted(package.rglob("*.py"))]
    assert len(files) > 100, "the scan found too few files to be scanning the right folders"
    return files


def test_the_scanner_catches_each_pattern():
    snippet = """
import pickle
import marshal as m
import subprocess, os, yaml, importlib
import numpy as np
from pickle import loads as undo
eval(text)
exec(text)
compile(text, "f", "exec")
__import__(name)
pickle.loads(blob)
undo(blob)
m.loads(blob)
yaml.load(text)
yaml.load(text, Loader=yaml.SafeLoader)
subprocess.run(cmd, shell=True)
subprocess.run(["ls"], shell=False)
os.system(cmd)
np.load(f, allow_pickle=True)
np.load(f, allow_pickle=False)
importlib.import_module(name)
client = httpx.Client(verify=False)
spec.loader.exec_module(module)
re.compile("x")
"""
    assert [what for _, what in findings(snippet)] == [
        "import pickle",
        "import marshal",
        "import pickle",
        "eval",
        "exec",
        "compile",
        "__import__",
        "pickle.loads",
        "pickle.loads",
        "marshal.loads",
        "yaml.load",
        "subprocess.run(shell=True)",
        "os.system",
        "numpy.load(allow_pickle=True)",
        "importlib.import_module",
        "httpx.Client(verify=False)",
        "<loader>.exec_module",
    ]


def test_no_file_turns_data_into_code():
    unexpected, used = [], set()
    for path in python_files():
        relative = path.relative_to(ROOT).as_posix()
        for line, what in findings(path.read_text(encoding="utf-8"), relative):
            key = (relative, what)
            if key in ALLOWED:
                used.add(key)
            elif not (
                what == "<loader>.exec_module" and (relative, "importlib.util.spec_from_file_location") in ALLOWED
            ):
                unexpected.append(f"{relative}:{line}: {what}")
            else:
                used.add((relative, "importlib.util.spec_from_file_location"))
    assert not unexpected, (
        "dangerous calls (allow one explicitly in ALLOWED, with the reason it is safe):\n" + "\n".join(unexpected)
    )
    stale = sorted(set(ALLOWED) - used)
    assert not stale, f"ALLOWED entries that no longer match any code (remove them): {stale}"


@pytest.mark.parametrize("key, reason", sorted(ALLOWED.items()))
def test_each_allowed_use_says_why(key, reason):
    assert (ROOT / key[0]).exists() and len(reason) > 40
