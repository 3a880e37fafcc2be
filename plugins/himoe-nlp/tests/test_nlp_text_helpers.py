"""Task-prefix handling and long-text chunking (no model needed)."""

from __future__ import annotations

import random

import pytest
from himoe_nlp.base_models.spacy.text_chunks import chunk_spans
from himoe_nlp.task_prefixes import match_prefix, strip_prefix

FR = ("fr:tag", "fr:pos", "fr:lemma")
LANG = ("lang:id", "lang:detect", "detect language")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fr:tag", "fr:tag"),
        ("fr:tag Les enfants jouent.", "fr:tag"),
        ("  FR:POS: Il pleut.", "fr:pos"),
        ("fr:lemma\tLes chevaux", "fr:lemma"),
        ("fr:tagger les mots", None),
        ("fr:posture", None),
        ("Les enfants fr:tag", None),
        ("en:tag The kids", None),
        ("", None),
    ],
)
def test_nlp_match_prefix(text: str, expected: str | None) -> None:
    assert match_prefix(text, FR) == expected


def test_nlp_match_prefix_with_spaces_in_it() -> None:
    assert match_prefix("Detect language: hola", LANG) == "detect language"
    assert match_prefix("detect languages please", LANG) is None
    assert match_prefix("lang:detect", LANG) == "lang:detect"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fr:tag Les enfants jouent dans le jardin.", "Les enfants jouent dans le jardin."),
        ("fr:pos: Il pleut. ", "Il pleut."),
        ("  fr:lemma\n  Les chevaux\n", "Les chevaux"),
        ("Les enfants jouent.", "Les enfants jouent."),
        ("fr:tag", ""),
        ("fr:tag   :  ", ""),
        ("fr:tagger x", "fr:tagger x"),
    ],
)
def test_nlp_strip_prefix(text: str, expected: str) -> None:
    assert strip_prefix(text, FR) == expected


def test_nlp_chunk_spans_short_text_is_one_span() -> None:
    assert chunk_spans("Bonjour.", 100) == [(0, 8)]
    assert chunk_spans("", 100) == [(0, 0)]


def test_nlp_chunk_spans_prefers_paragraphs_then_lines_then_sentences() -> None:
    text = "Premier paragraphe ici.\n\nDeuxième ligne.\nTroisième phrase. Quatrième."
    spans = chunk_spans(text, 30)
    pieces = [text[a:b] for a, b in spans]
    assert pieces[0] == "Premier paragraphe ici.\n\n"
    assert pieces[1] == "Deuxième ligne.\n"
    assert "".join(pieces) == text


def test_nlp_chunk_spans_cover_random_texts_within_the_limit() -> None:
    rng = random.Random(7)
    alphabet = "abcdef  .\n"
    for _ in range(200):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        limit = rng.randint(1, 60)
        spans = chunk_spans(text, limit)
        assert "".join(text[a:b] for a, b in spans) == text
        assert all(0 < b - a <= limit for a, b in spans) or text == ""
        assert all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))


def test_nlp_chunk_spans_cuts_a_word_only_when_it_must() -> None:
    assert chunk_spans("abcdefghij", 4) == [(0, 4), (4, 8), (8, 10)]
    with pytest.raises(ValueError):
        chunk_spans("abc", 0)
