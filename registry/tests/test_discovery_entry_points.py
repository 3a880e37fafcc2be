"""discover_entry_points against real .dist-info folders on a temporary path."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from himoe_registry import PluginSource, discover_entry_points, normalize_dist_name

# Every module these tests create starts with this, so cleanup can find them.
PREFIX = "hrtest_"

MakeDist = Callable[..., None]


@pytest.fixture(autouse=True)
def _forget_test_modules() -> Iterator[None]:
    yield
    for name in [n for n in sys.modules if n.startswith(PREFIX)]:
        del sys.modules[name]


def write_dist(
    site: Path,
    name: str,
    version: str,
    entry_points: str,
    modules: dict[str, str] | None = None,
    *,
    metadata: str | None = None,
) -> None:
    """A minimal installed distribution: METADATA, entry_points.txt and modules."""
    info = site / f"{normalize_dist_name(name).replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    if metadata is None:
        metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    (info / "METADATA").write_text(metadata, encoding="utf-8")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points).lstrip(), encoding="utf-8")
    for module, source in (modules or {}).items():
        (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    # New files in a folder already on sys.path: drop the finders' cached listings.
    importlib.invalidate_caches()


@pytest.fixture()
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A site folder with a good plugin, one failing at import and one naming a missing module."""
    site = tmp_path / "site"
    site.mkdir()
    write_dist(
        site,
        "goodplug",
        "1.0",
        "[himoe]\ngoodplug = hrtest_goodplug_mod\n",
        {"hrtest_goodplug_mod": "MARKER = 'good plugin loaded'\n"},
    )
    write_dist(
        site,
        "brokenplug",
        "0.3",
        "[himoe]\nbrokenplug = hrtest_brokenplug_mod\n",
        {"hrtest_brokenplug_mod": "raise ImportError('needs libfoo, install it with apt')\n"},
    )
    write_dist(site, "ghostplug", "2.0", "[himoe]\nghost = hrtest_ghost_missing_mod\n")
    monkeypatch.syspath_prepend(str(site))
    return site


def by_name(sources: list[PluginSource]) -> dict[str, PluginSource]:
    return {s.name: s for s in sources}


def test_good_plugin_is_imported(site: Path) -> None:
    sources = by_name(discover_entry_points("himoe", path=[str(site)]))
    good = sources["goodplug"]
    assert good.ok and good.error is None and good.traceback is None
    assert good.module is not None
    assert good.module.MARKER == "good plugin loaded"
    assert good.module is sys.modules["hrtest_goodplug_mod"]
    assert (good.dist_name, good.version, good.origin, good.label) == ("goodplug", "1.0", "entry-point", "goodplug 1.0")


def test_failing_plugins_become_error_records(site: Path) -> None:
    sources = by_name(discover_entry_points("himoe", path=[str(site)]))
    broken = sources["brokenplug"]
    assert not broken.ok and broken.module is None
    assert broken.error == "ImportError: needs libfoo, install it with apt"
    assert broken.traceback is not None and "hrtest_brokenplug_mod.py" in broken.traceback
    assert "hrtest_brokenplug_mod" not in sys.modules  # a failed import leaves nothing behind

    ghost = sources["ghost"]
    assert ghost.module is None
    assert ghost.error == "ModuleNotFoundError: No module named 'hrtest_ghost_missing_mod'"
    assert ghost.label == "ghostplug 2.0"


def test_results_are_sorted_by_dist_then_entry_point_name(site: Path) -> None:
    write_dist(
        site,
        "Aardvark-Plug",
        "1.0",
        "[himoe]\nzeta = hrtest_aard_mod\nalpha = hrtest_aard_mod\n",
        {"hrtest_aard_mod": "X = 1\n"},
    )
    sources = discover_entry_points("himoe", path=[str(site)])
    assert [(s.dist_name, s.name) for s in sources] == [
        ("Aardvark-Plug", "alpha"),
        ("Aardvark-Plug", "zeta"),
        ("brokenplug", "brokenplug"),
        ("ghostplug", "ghost"),
        ("goodplug", "goodplug"),
    ]
    assert sources == discover_entry_points("himoe", path=[str(site)])


def test_other_groups_are_ignored(site: Path) -> None:
    write_dist(site, "otherplug", "1.0", "[console_scripts]\nother = hrtest_other_mod:main\n")
    assert "other" not in by_name(discover_entry_points("himoe", path=[str(site)]))
    assert discover_entry_points("no_such_group", path=[str(site)]) == []


def test_allow_matches_normalised_names(site: Path) -> None:
    sources = discover_entry_points("himoe", path=[str(site)], allow=frozenset({"GoodPlug"}))
    assert [s.name for s in sources] == ["goodplug"]
    assert sources[0].ok


def test_allow_normalises_both_sides(site: Path) -> None:
    write_dist(site, "Fancy_Plug.Ext", "1.0", "[himoe]\nfancy = hrtest_fancy_mod\n", {"hrtest_fancy_mod": ""})
    sources = discover_entry_points("himoe", path=[str(site)], allow=frozenset({"fancy--plug_ext"}))
    assert [(s.dist_name, s.name, s.ok) for s in sources] == [("Fancy_Plug.Ext", "fancy", True)]


def test_deny_excludes_and_never_imports(site: Path) -> None:
    sources = discover_entry_points("himoe", path=[str(site)], deny=frozenset({"BROKENPLUG", "ghost.plug"}))
    names = [s.name for s in sources]
    assert "brokenplug" not in names
    assert "ghost" in names  # 'ghost.plug' normalises to 'ghost-plug', not 'ghostplug'
    assert "goodplug" in names


def test_allow_and_deny_combine(site: Path) -> None:
    sources = discover_entry_points(
        "himoe", path=[str(site)], allow=frozenset({"goodplug", "brokenplug"}), deny=frozenset({"brokenplug"})
    )
    assert [s.name for s in sources] == ["goodplug"]


def test_empty_allow_allows_nothing(site: Path) -> None:
    assert discover_entry_points("himoe", path=[str(site)], allow=frozenset()) == []


def test_a_bare_string_for_allow_is_refused(site: Path) -> None:
    with pytest.raises(TypeError, match="allow must be a collection"):
        discover_entry_points("himoe", path=[str(site)], allow="goodplug")  # type: ignore[arg-type]


def test_first_distribution_on_the_path_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_dist(first, "dupplug", "2.0", "[himoe]\ndup = hrtest_dup_new\n", {"hrtest_dup_new": "WHICH = 'new'\n"})
    write_dist(second, "Dup_Plug", "1.0", "[himoe]\ndup = hrtest_dup_old\n", {"hrtest_dup_old": "WHICH = 'old'\n"})
    monkeypatch.syspath_prepend(str(second))
    monkeypatch.syspath_prepend(str(first))
    # 'dupplug' and 'dup-plug' differ after normalisation: both are reported.
    both = discover_entry_points("himoe", path=[str(first), str(second)])
    assert [(s.dist_name, s.version) for s in both] == [("Dup_Plug", "1.0"), ("dupplug", "2.0")]

    write_dist(second, "DupPlug", "1.5", "[himoe]\ndup = hrtest_dup_old\n")
    sources = discover_entry_points("himoe", path=[str(first), str(second)], allow=frozenset({"dupplug"}))
    assert [(s.dist_name, s.version) for s in sources] == [("dupplug", "2.0")]
    assert sources[0].module is not None and sources[0].module.WHICH == "new"
    reversed_order = discover_entry_points("himoe", path=[str(second), str(first)], allow=frozenset({"dupplug"}))
    assert [(s.dist_name, s.version) for s in reversed_order] == [("DupPlug", "1.5")]


def test_plugins_raising_system_exit_or_other_base_exceptions_are_isolated(site: Path) -> None:
    write_dist(
        site,
        "exitplug",
        "1.0",
        "[himoe]\nexiter = hrtest_exit_mod\n",
        {"hrtest_exit_mod": "import sys\nsys.exit(3)\n"},
    )
    write_dist(
        site,
        "multilineplug",
        "1.0",
        "[himoe]\nmulti = hrtest_multi_mod\n",
        {"hrtest_multi_mod": "raise RuntimeError('first line\\n  second line')\n"},
    )
    sources = by_name(discover_entry_points("himoe", path=[str(site)]))
    assert sources["exiter"].error == "SystemExit: 3"
    assert sources["multi"].error == "RuntimeError: first line second line"
    assert sources["goodplug"].ok


def test_exception_classes_outside_builtins_are_qualified(site: Path) -> None:
    write_dist(
        site,
        "customplug",
        "1.0",
        "[himoe]\ncustom = hrtest_custom_mod\n",
        {"hrtest_custom_mod": "import json\njson.loads('{')\n"},
    )
    error = by_name(discover_entry_points("himoe", path=[str(site)]))["custom"].error
    assert error is not None and error.startswith("json.decoder.JSONDecodeError: Expecting")


def test_keyboard_interrupt_is_not_swallowed(site: Path) -> None:
    write_dist(
        site,
        "interruptplug",
        "1.0",
        "[himoe]\nctrl_c = hrtest_interrupt_mod\n",
        {"hrtest_interrupt_mod": "raise KeyboardInterrupt\n"},
    )
    with pytest.raises(KeyboardInterrupt):
        discover_entry_points("himoe", path=[str(site)])


def test_attribute_entry_points_resolve_the_attribute(site: Path) -> None:
    write_dist(
        site,
        "attrplug",
        "1.0",
        "[himoe]\nregister = hrtest_attr_mod:register\nmissing = hrtest_attr_mod:nope\n",
        {"hrtest_attr_mod": "def register():\n    return 'registered'\n"},
    )
    sources = by_name(discover_entry_points("himoe", path=[str(site)], allow=frozenset({"attrplug"})))
    assert sources["register"].ok
    assert sources["register"].module is sys.modules["hrtest_attr_mod"]
    assert sources["register"].module.register() == "registered"
    assert sources["missing"].module is None
    assert sources["missing"].error is not None and sources["missing"].error.startswith("AttributeError")


def test_distributions_without_a_name_are_skipped(site: Path) -> None:
    write_dist(
        site,
        "nameless",
        "1.0",
        "[himoe]\nnameless = hrtest_nameless_mod\n",
        {"hrtest_nameless_mod": ""},
        metadata="Metadata-Version: 2.1\nVersion: 1.0\n",
    )
    names = [s.name for s in discover_entry_points("himoe", path=[str(site)])]
    assert names == ["brokenplug", "ghost", "goodplug"]


def test_default_path_is_sys_path(site: Path) -> None:
    write_dist(
        site,
        "syspathplug",
        "1.0",
        "[hrtest_private_group]\nviasyspath = hrtest_goodplug_mod\n",
    )
    sources = discover_entry_points("hrtest_private_group")
    assert [(s.dist_name, s.name, s.ok) for s in sources] == [("syspathplug", "viasyspath", True)]


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("GoodPlug", "goodplug"), ("Good_Plug", "good-plug"), ("a.-_b", "a-b"), ("Zope.Interface", "zope-interface")],
)
def test_normalize_dist_name(raw: str, normal: str) -> None:
    assert normalize_dist_name(raw) == normal
