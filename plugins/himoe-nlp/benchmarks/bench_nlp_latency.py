"""Latency of himoe-nlp's experts: the first call (cold: imports and model load) and warm calls.

Each run is a fresh Python process, so the first call pays what a freshly started himoe pays:
importing spaCy or lingua and loading the model. The first-call p50 is taken over the runs; the
warm p50/p95 over every warm call of every run. Peak RSS is the child process's maximum resident
memory after its calls (Linux: ru_maxrss).

    python plugins/himoe-nlp/benchmarks/bench_nlp_latency.py            # 5 runs x 200 warm calls
    python plugins/himoe-nlp/benchmarks/bench_nlp_latency.py --runs 3 --warm 100 --json
"""

from __future__ import annotations

import resource
import sys
import time

from himoe_core.testing import run_latency_benchmark

FRENCH = [
    "fr:tag Les enfants jouent dans le jardin.",
    "fr:pos Le chat dort sur le canapé depuis ce matin.",
    "fr:lemma Nous aurions dû partir plus tôt, mais il pleuvait.",
    "fr:tag Elle s'est levée, a pris son manteau et est sortie sans dire un mot.",
    "fr:tag Les élections municipales auront lieu en mars prochain à Paris.",
]
MIXED = [
    "lang:id Les enfants jouent dans le jardin.",
    "lang:id The children are playing in the garden.",
    "lang:id Die Kinder spielen im Garten.",
    "lang:id Los niños juegan en el jardín.",
    "lang:id Дети играют в саду.",
    "lang:id I am tired",
]
# label -> the inputs it is timed on (the registered defaults, plus lingua's low accuracy mode)
CASES = {
    "nlp_french_tagger": FRENCH,
    "nlp_language_id": MIXED,
    "nlp_language_id (lang_id_accuracy=low)": MIXED,
}


def build(label: str):
    from himoe_nlp import NlpFrenchTagger, NlpLanguageId
    from himoe_nlp.base_models.lingua.lingua_detector import LinguaDetector

    if label == "nlp_french_tagger":
        return NlpFrenchTagger()
    if label == "nlp_language_id":
        return NlpLanguageId()
    return NlpLanguageId(LinguaDetector(accuracy="low"))


def child(label: str, warm: int) -> dict:
    from himoe_core import Context, InputData

    texts = CASES[label]
    expert = build(label)
    inputs = [InputData.text(text) for text in texts]
    started = time.perf_counter()
    expert.infer(inputs[0], Context.start(600_000))
    first_ms = (time.perf_counter() - started) * 1000
    warm_ms = []
    for i in range(warm):
        x = inputs[i % len(inputs)]
        started = time.perf_counter()
        expert.infer(x, Context.start(600_000))
        warm_ms.append((time.perf_counter() - started) * 1000)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"first_ms": first_ms, "warm_ms": warm_ms, "peak_rss_mb": rss_mb}


if __name__ == "__main__":
    sys.exit(run_latency_benchmark(__file__, __doc__, CASES, child))
