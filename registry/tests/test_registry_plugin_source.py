"""PluginSource record behaviour."""

from __future__ import annotations

import types

import attrs
import pytest
from himoe_registry import PluginSource


def test_ok_and_label_for_a_distribution_plugin() -> None:
    source = PluginSource("tagger", "nlp-experts", "1.2.3", "entry-point")
    assert source.ok
    assert source.label == "nlp-experts 1.2.3"


def test_label_without_version_or_dist() -> None:
    assert PluginSource("tagger", "nlp-experts", None, "entry-point").label == "nlp-experts"
    assert PluginSource("my_local", None, None, "directory").label == "my_local"


def test_failed_plugin_is_not_ok() -> None:
    source = PluginSource("x", None, None, "directory", error="ImportError: boom", traceback="Traceback...")
    assert not source.ok
    assert source.module is None


def test_equality_and_repr_ignore_module_and_traceback() -> None:
    module = types.ModuleType("m")
    a = PluginSource("x", "d", "1", "entry-point", module, None, None)
    b = PluginSource("x", "d", "1", "entry-point", None, None, "tb")
    assert a == b and hash(a) == hash(b)
    assert "module" not in repr(a) and "traceback" not in repr(b)
    assert PluginSource("x", "d", "1", "entry-point", error="E: e") != a


def test_frozen() -> None:
    source = PluginSource("x", None, None, "directory")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        source.name = "y"  # type: ignore[misc]


def test_origin_must_be_known() -> None:
    with pytest.raises(ValueError, match="origin"):
        PluginSource("x", None, None, "zip")
