"""load_directory: loose *.py plugins with failure isolation."""

from __future__ import annotations

import pickle
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from himoe_registry import LOCAL_PLUGIN_PACKAGE, load_directory


@pytest.fixture(autouse=True)
def _forget_local_plugins() -> Iterator[None]:
    yield
    for name in [n for n in sys.modules if n == LOCAL_PLUGIN_PACKAGE or n.startswith(LOCAL_PLUGIN_PACKAGE + ".")]:
        del sys.modules[name]


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        (folder / name).write_text(textwrap.dedent(source), encoding="utf-8")
    return folder


def test_good_file_is_imported_under_the_local_package(tmp_path: Path) -> None:
    folder = write(tmp_path / "plugins", {"good.py": "VALUE = 41 + 1\n"})
    [source] = load_directory(folder)
    assert source.ok
    assert (source.name, source.dist_name, source.version, source.origin) == ("good", None, None, "directory")
    assert source.label == "good"
    assert source.module is not None and source.module.VALUE == 42
    assert source.module.__name__ == "himoe_local_plugins.good"
    assert sys.modules["himoe_local_plugins.good"] is source.module
    assert sys.modules[LOCAL_PLUGIN_PACKAGE].good is source.module


def test_failing_files_are_isolated_and_leave_no_module(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "plugins",
        {
            "a_good.py": "OK = True\n",
            "b_broken.py": "raise ValueError('weights file missing: run fetch first')\n",
            "c_syntax.py": "def broken(:\n",
            "d_exit.py": "raise SystemExit('bye')\n",
            "e_good.py": "OK = True\n",
        },
    )
    sources = {s.name: s for s in load_directory(folder)}
    assert sources["a_good"].ok and sources["e_good"].ok
    assert sources["b_broken"].error == "ValueError: weights file missing: run fetch first"
    assert sources["b_broken"].traceback is not None and "b_broken.py" in sources["b_broken"].traceback
    assert sources["c_syntax"].error is not None and sources["c_syntax"].error.startswith("SyntaxError:")
    assert sources["d_exit"].error == "SystemExit: bye"
    for failed in ("b_broken", "c_syntax", "d_exit"):
        assert sources[failed].module is None
        assert f"himoe_local_plugins.{failed}" not in sys.modules


def test_files_are_loaded_in_name_order_and_helpers_are_skipped(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "plugins",
        {
            "zeta.py": "",
            "alpha.py": "",
            "_helper.py": "raise RuntimeError('helpers are not plugins')\n",
            "__init__.py": "",
            "notes.txt": "not python",
            "mid.py": "",
        },
    )
    (folder / "sub.py").mkdir()  # a folder named like a module is not a plugin
    assert [s.name for s in load_directory(folder)] == ["alpha", "mid", "zeta"]


def test_plugins_can_import_underscore_helpers_through_the_package(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "plugins",
        {
            "_shared.py": "GREETING = 'hello'\n",
            "user.py": "from himoe_local_plugins import _shared\nMESSAGE = _shared.GREETING + ' world'\n",
        },
    )
    [source] = load_directory(folder)
    assert source.ok, source.error
    assert source.module is not None and source.module.MESSAGE == "hello world"


def test_plugin_classes_work_with_dataclasses_and_pickle(tmp_path: Path) -> None:
    # Both need the plugin module to be findable in sys.modules by name.
    folder = write(
        tmp_path / "plugins",
        {
            "typed.py": """
                from __future__ import annotations
                import dataclasses

                @dataclasses.dataclass
                class Config:
                    size: int = 3
            """
        },
    )
    [source] = load_directory(folder)
    assert source.ok, source.error
    assert source.module is not None
    config = source.module.Config(size=5)
    assert pickle.loads(pickle.dumps(config)) == config


def test_reloading_replaces_modules(tmp_path: Path) -> None:
    folder = write(tmp_path / "plugins", {"counter.py": "N = 1\n"})
    [first] = load_directory(folder)
    write(folder, {"counter.py": "N = 22  # a different size defeats a same-second stale .pyc\n"})
    [second] = load_directory(folder)
    assert first.module is not None and second.module is not None
    assert second.module.N == 22
    assert sys.modules["himoe_local_plugins.counter"] is second.module


def test_empty_folder_gives_no_plugins(tmp_path: Path) -> None:
    assert load_directory(tmp_path) == []


def test_missing_folder_raises_file_not_found_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as info:
        load_directory(missing)
    assert str(missing) in str(info.value)
    assert "does not exist" in str(info.value)


def test_a_file_instead_of_a_folder_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "plugin.py"
    file.write_text("", encoding="utf-8")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        load_directory(str(file))
