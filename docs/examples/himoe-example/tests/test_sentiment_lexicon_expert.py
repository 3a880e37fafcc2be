"""SentimentLexiconExpert: labels, negation, intensifiers, confidence, routing."""

import pytest
from himoe_example import SentimentLexiconExpert

from himoe_core.testing import assert_routed, trace_calls


@pytest.mark.parametrize(
    "text, label",
    [
        ("I love this library, the docs are excellent", "positive"),
        ("terrible docs and a buggy release", "negative"),
        ("the meeting is on Tuesday", "neutral"),
        ("this is not good", "negative"),
        ("never slow, really reliable", "positive"),
    ],
)
def test_labels(text, label):
    assert SentimentLexiconExpert().analyse(text)["label"] == label


def test_intensifiers_and_negation_change_the_weight():
    expert = SentimentLexiconExpert()
    assert expert.analyse("good")["matches"] == [{"word": "good", "weight": 1.0}]
    assert expert.analyse("very good")["matches"] == [{"word": "good", "weight": 1.5}]
    assert expert.analyse("not good")["matches"] == [{"word": "good", "weight": -0.8}]
    assert expert.analyse("very good")["score"] > expert.analyse("good")["score"] > 0


def test_confidence_grows_with_evidence(himoe_factory):
    moe = himoe_factory([SentimentLexiconExpert()])
    weak = trace_calls(moe.run_sync("sentiment: the train leaves at noon"))["sentiment_lexicon"]
    strong = trace_calls(moe.run_sync("sentiment: great, fast, reliable and helpful"))["sentiment_lexicon"]
    assert weak["confidence"] == pytest.approx(0.2)
    assert strong["confidence"] == pytest.approx(1.0)


def test_routed_only_for_sentiment_requests(himoe_factory):
    from himoe_example import WordCountExpert

    moe = himoe_factory([SentimentLexiconExpert(), WordCountExpert()])
    response = moe.run_sync("sentiment: what a wonderful day")
    assert response.value.as_json()["label"] == "positive"
    assert_routed(response, expert="sentiment_lexicon")
    assert list(trace_calls(response)) == ["sentiment_lexicon"]  # word_count does not handle it
