"""The distribution is installed, registers its experts, and stays cheap to import."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import himoe_vision
import himoe_vision.plugin as plugin

PACKAGE = Path(himoe_vision.__file__).parent


def test_vision_plugin_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "himoe_core", "list-experts", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    experts = {entry["name"]: entry for entry in json.loads(result.stdout)}
    for name in ("vision_digits_linear", "vision_digits_svc"):
        assert name in experts, result.stdout
        assert experts[name]["plugin"] == "himoe-vision"
        assert experts[name]["version"] == "0.1.0" == version("himoe-vision")
        assert experts[name]["domain"] == "vision"
        assert "digit" in experts[name]["description"]


def test_vision_plugin_registers_both_experts():
    registered = []
    plugin.register_experts(registered.append)
    assert [e.name for e in registered] == ["vision_digits_linear", "vision_digits_svc"]


def test_vision_plugin_import_is_light():
    code = (
        "import himoe_vision.plugin, himoe_vision, sys; "
        "heavy = [m for m in ('sklearn', 'scipy', 'PIL') if m in sys.modules]; "
        "assert not heavy, heavy; "
        "himoe_vision.plugin.register_experts(lambda e: e.can_handle('vision:digit')); "
        "assert 'sklearn' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def test_vision_file_convention():
    """One class per file, named after it; protocols in *_trait.py; experts under experts/vision/."""
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
        assert len(classes) <= 1, f"{path}: more than one class"
        for cls in classes:
            is_protocol = any(getattr(base, "id", "") == "Protocol" for base in cls.bases)
            expected = _snake(cls.name) + ("_trait" if is_protocol else "")
            assert path.stem == expected, f"{path}: class {cls.name} belongs in {expected}.py"
            if cls.name.endswith("Expert"):
                assert path.parent == PACKAGE / "experts" / "vision", path
    expert_files = sorted(p.name for p in (PACKAGE / "experts" / "vision").glob("*_expert.py"))
    assert expert_files == ["digit_classifier_expert.py", "digits_linear_expert.py", "digits_svc_expert.py"]
