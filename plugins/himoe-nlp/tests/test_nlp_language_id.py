"""nlp_language_id against the real lingua detector."""

from __future__ import annotations

import threading
import time

import himoe_nlp.base_models.lingua.lingua_detector as lingua_detector_module
import pytest
from himoe_nlp import NlpLanguageId
from himoe_nlp.base_models.lingua.lingua_detector import DEFAULT_LANGUAGES, LinguaDetector

from himoe_core import Cancelled, CancelToken, ConfigError, Context, InputData, InvalidInput


@pytest.fixture(scope="module")
def language_id() -> NlpLanguageId:
    return NlpLanguageId()  # the registered default: high accuracy, 28 languages


def _run(expert: NlpLanguageId, text: str, task: str | None = None) -> tuple[dict, float]:
    out = expert.infer(InputData.text(text, task=task), Context.start(120_000))
    return out.value.as_json(), out.aux.confidence


@pytest.mark.parametrize(
    ("text", "code", "name"),
    [
        ("lang:id Les enfants jouent dans le jardin pendant que leurs parents préparent le dîner.", "fr", "French"),
        ("lang:detect The children are playing in the garden while their parents cook dinner.", "en", "English"),
        ("detect language: Die Kinder spielen im Garten, während ihre Eltern das Abendessen kochen.", "de", "German"),
        ("Los niños juegan en el jardín mientras sus padres preparan la cena.", "es", "Spanish"),
        ("Дети играют в саду, пока их родители готовят ужин.", "ru", "Russian"),
        ("孩子们在花园里玩耍，他们的父母在做晚饭。", "zh", "Chinese"),
    ],
)
def test_nlp_language_id_identifies_sentences(language_id: NlpLanguageId, text: str, code: str, name: str) -> None:
    result, confidence = _run(language_id, text)
    assert result["language"] == code
    assert result["name"] == name
    assert result["confidence"] == confidence == result["candidates"][0]["confidence"]
    assert 0.5 < confidence <= 1.0
    candidates = result["candidates"]
    assert 1 <= len(candidates) <= 3
    assert [c["confidence"] for c in candidates] == sorted((c["confidence"] for c in candidates), reverse=True)
    assert all(c["language"] in DEFAULT_LANGUAGES for c in candidates)
    assert candidates[0]["language"] == code
    assert result["model"].startswith("lingua ") and "high accuracy, 28 languages" in result["model"]


def test_nlp_language_id_short_texts_in_high_accuracy_mode(language_id: NlpLanguageId) -> None:
    # Short inputs are where high accuracy mode earns its cost (low accuracy mode gets
    # "I am tired" and "je suis fatigué" wrong).
    assert _run(language_id, "I am tired")[0]["language"] == "en"
    assert _run(language_id, "je suis fatigué")[0]["language"] == "fr"
    assert _run(language_id, "ich bin müde")[0]["language"] == "de"


def test_nlp_language_id_confidence_reflects_ambiguity(language_id: NlpLanguageId) -> None:
    long_result, long_confidence = _run(language_id, "Die Kinder spielen im Garten, während ihre Eltern kochen.")
    _, short_confidence = _run(language_id, "Garten")
    assert long_confidence > short_confidence
    assert sum(c["confidence"] for c in long_result["candidates"]) <= 1.0 + 1e-9


@pytest.mark.parametrize("text", ["12345", "lang:id ... !!!", "😀 😀"])
def test_nlp_language_id_text_without_letters_has_no_language(language_id: NlpLanguageId, text: str) -> None:
    result, confidence = _run(language_id, text)
    assert result["language"] is None and result["name"] is None
    assert result["candidates"] == [] and confidence == 0.0


def test_nlp_language_id_restricted_languages_and_top() -> None:
    expert = NlpLanguageId(LinguaDetector(languages=("fr", "en"), accuracy="low"), top=1)
    result, _ = _run(expert, "The children are playing in the garden while their parents cook dinner.")
    assert result["language"] == "en" and len(result["candidates"]) == 1
    result, _ = _run(expert, "Die Kinder spielen im Garten, während ihre Eltern kochen.")
    assert result["language"] in {"fr", "en"}  # German is not in the set: the closest one is reported
    assert "low accuracy, 2 languages" in result["model"]


def test_nlp_language_id_unknown_language_code_is_a_config_error() -> None:
    detector = LinguaDetector(languages=("fr", "xx"))
    with pytest.raises(ConfigError, match="'xx'.*supported ISO 639-1 codes: af, ar"):
        detector.load()
    assert not detector.built


def test_nlp_language_id_can_handle() -> None:
    expert = NlpLanguageId(LinguaDetector())
    for task in ("lang:id", "lang:detect", "detect language", "Detect language: hola", "LANG:ID bonjour"):
        assert expert.can_handle(task), task
    for task in ("", "fr:tag", "language", "lang:identity", "please detect language"):
        assert not expert.can_handle(task), task
    assert not expert.detector.built


@pytest.mark.parametrize("text", ["lang:id", "detect language:  ", " "])
def test_nlp_language_id_rejects_empty_text(language_id: NlpLanguageId, text: str) -> None:
    with pytest.raises(InvalidInput, match="no text after the task prefix"):
        language_id.infer(InputData.text(text), Context.start(1000))


def test_nlp_language_id_rejects_non_text() -> None:
    expert = NlpLanguageId(LinguaDetector())
    with pytest.raises(InvalidInput, match="got bytes input"):
        expert.infer(InputData.bytes(b"hello"), Context.start(1000))
    assert not expert.detector.built


def test_nlp_language_id_cancelled_request_builds_nothing() -> None:
    expert = NlpLanguageId(LinguaDetector())
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        expert.infer(InputData.text("lang:id bonjour"), Context.start(10_000, cancel=token))
    assert not expert.detector.built


def test_nlp_language_id_builds_once_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[int] = []
    real_build = lingua_detector_module._build

    def counting_build(*args):
        builds.append(threading.get_ident())
        time.sleep(0.2)  # widen the race window
        return real_build(*args)

    monkeypatch.setattr(lingua_detector_module, "_build", counting_build)
    expert = NlpLanguageId(LinguaDetector(languages=("fr", "en", "de"), accuracy="low"))
    barrier = threading.Barrier(8)
    answers: list[str] = []

    def worker() -> None:
        barrier.wait()
        answers.append(_run(expert, "Les enfants jouent dans le jardin.")[0]["language"])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == ["fr"] * 8
    assert len(builds) == 1


def test_nlp_language_id_runs_in_a_trio_worker_thread_with_a_trio_context() -> None:
    import trio

    expert = NlpLanguageId(LinguaDetector(languages=("fr", "en", "de"), accuracy="low"))

    async def main() -> dict:
        out = await trio.to_thread.run_sync(
            expert.infer, InputData.text("lang:id Die Kinder spielen im Garten."), Context.start(60_000)
        )
        return out.value.as_json()

    assert trio.run(main)["language"] == "de"
