"""WordCountExpert, with the fixtures of himoe's pytest plugin (they come with himoe)."""

import pytest
from himoe_example import WordCountExpert, plugin

from himoe_core import ConfigError
from himoe_core.testing import FailingExpert, HangingExpert, assert_routed


def test_counts_words_sentences_and_characters():
    stats = WordCountExpert(top_n=2).count("The cat sat. The cat ran away! Did it?")
    assert stats == {
        "words": 9,
        "distinct_words": 7,
        "sentences": 3,
        "characters": 38,
        "top_words": [["cat", 2], ["away", 1]],
    }


def test_words_keep_inner_apostrophes_and_hyphens_and_skip_numbers():
    stats = WordCountExpert().count("Don't panic: a well-known fact, 42 times.")
    assert stats["words"] == 6 and stats["sentences"] == 1
    assert ["don't", 1] in stats["top_words"] and ["well-known", 1] in stats["top_words"]


def test_empty_text():
    assert WordCountExpert().count("") == {
        "words": 0,
        "distinct_words": 0,
        "sentences": 0,
        "characters": 0,
        "top_words": [],
    }


def test_top_n_must_be_positive():
    with pytest.raises(ValueError, match="top_n must be a positive integer"):
        WordCountExpert(top_n=0)


def test_routed_as_a_request(himoe_factory):
    moe = himoe_factory([WordCountExpert()])
    response = moe.run_sync("count: to be or not to be")
    assert response.value.as_json()["words"] == 6
    assert_routed(response, expert="word_count", router="default")


def test_the_plugin_registers_both_experts_and_reads_its_config():
    registered = []
    plugin.register_experts(registered.append, {"top_n": 3})  # [plugins.himoe-example] top_n = 3
    assert sorted(e.name for e in registered) == ["sentiment_lexicon", "word_count"]
    [counter] = [e for e in registered if e.name == "word_count"]
    assert counter.top_n == 3


@pytest.mark.parametrize(
    "config, message",
    [
        ({"top_n": "x"}, "plugins.himoe-example.top_n: expected a positive integer, got 'x'"),
        ({"top_n": 0}, "plugins.himoe-example.top_n: expected a positive integer, got 0"),
        ({"topn": 3}, "plugins.himoe-example: unknown key 'topn'; known keys: top_n"),
    ],
)
def test_a_wrong_config_is_a_config_error(config, message):
    with pytest.raises(ConfigError, match=message):
        plugin.register_experts([].append, config)


def test_answers_even_when_a_neighbour_fails_or_hangs(himoe_factory, run_trio):
    moe = himoe_factory(
        [WordCountExpert(), FailingExpert("broken", prefix="count:"), HangingExpert("stuck", prefix="count:")],
        config={"routers": {"all": {"kind": "static", "experts": ["*"], "k": 3}}},
    )
    response = run_trio(moe.run, "count: one two three", budget_ms=200)  # trio's MockClock: no real wait
    assert response.value.as_json()["words"] == 3
    assert_routed(response, expert="word_count", router="all")
    assert_routed(response, expert="broken", status="failed")
    assert_routed(response, expert="stuck", status="timed_out")
