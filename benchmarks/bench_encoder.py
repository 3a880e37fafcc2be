"""Speed of HashingEncoder.vectorize against the per-token loop it replaced (issue #15, item 3).

    python benchmarks/bench_encoder.py           # ~30 s: 7 interleaved rounds over the GSM8K prompts
    python benchmarks/bench_encoder.py --quick   # smoke run (seconds)
    HIMOE_ROUTELLM_DATA=path/to/gsm8k.csv python benchmarks/bench_encoder.py

Both versions vectorize every GSM8K prompt in turn in the same process, rounds interleaved; the
figure is the median over rounds of the process CPU time per prompt, and old/new is the speed-up.
The two give the same vectors to the bit (checked here on every prompt, and by
tests/test_learning_encoders.py on random Unicode texts).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_common import machine, say  # noqa: E402
from legacy_hashing import legacy_vectorize  # noqa: E402

from himoe_core.routing import HashingEncoder

DATA = Path(os.environ.get("HIMOE_ROUTELLM_DATA", HERE / "data" / "gsm8k.csv"))
SETTINGS = {
    "dim 4096, word 1-2-grams + length (the logistic setting)": {"dim": 4096, "length": True},
    "dim 1024, word 1-2-grams + char 2-4-grams": {"dim": 1024, "char_ngrams": (2, 4)},
}


def cpu_us_per_text(vectorize, texts: list[str]) -> float:
    started = time.process_time()
    for text in texts:
        vectorize(text)
    return 1e6 * (time.process_time() - started) / len(texts)


def measure(texts: list[str], rounds: int) -> dict[str, tuple[list[float], list[float], float]]:
    results = {}
    for name, options in SETTINGS.items():
        encoder = HashingEncoder(**options)
        legacy = {
            "dim": encoder.dim,
            "word_ngrams": encoder.word_ngrams,
            "char_ngrams": encoder.char_ngrams,
            "lowercase": encoder.lowercase,
            "length": encoder.length,
        }
        for text in texts:
            if encoder.vectorize(text).tobytes() != legacy_vectorize(text, **legacy).tobytes():
                raise AssertionError(f"{name}: the two versions differ on {text[:80]!r}")
        old, new = [], []
        for _ in range(rounds):
            old.append(cpu_us_per_text(lambda t: legacy_vectorize(t, **legacy), texts))  # noqa: B023 (called at once)
            new.append(cpu_us_per_text(encoder.vectorize, texts))
        results[name] = (old, new, statistics.median(old) / statistics.median(new))
        say(f"{name}: old {statistics.median(old):.1f} µs, new {statistics.median(new):.1f} µs")
    return results


def render(results: dict, count: int, rounds: int, quick: bool) -> str:
    lines = [
        f"Machine: {machine()}.",
        f"Command: `python benchmarks/bench_encoder.py{' --quick' if quick else ''}` ({count} GSM8K prompts, "
        f"{rounds} interleaved rounds; CPU time per prompt, median over rounds).",
        "",
        "| encoder | per-token loop | fast | speed-up |",
        "|---|---:|---:|---:|",
    ]
    for name, (old, new, ratio) in results.items():
        lines.append(f"| {name} | {statistics.median(old):.1f} µs | {statistics.median(new):.1f} µs | {ratio:.2f}× |")
    if quick:
        lines.append("\n**Quick smoke run: sizes too small for the figures to mean anything.**")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    if not DATA.exists():
        parser.error(f"no GSM8K data at {DATA}; set HIMOE_ROUTELLM_DATA to the CSV (with a 'prompt' column)")
    with DATA.open(newline="", encoding="utf-8") as handle:
        texts = [row["prompt"] for row in csv.DictReader(handle)]
    rounds = 2 if args.quick else args.rounds
    if args.quick:
        texts = texts[:50]
    print(render(measure(texts, rounds), len(texts), rounds, args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
