"""CPU cost of a learned routing decision (issue #15, "Learned decision cost").

    python benchmarks/bench_decision_cost.py            # ~1 min: 7 interleaved batches of 400 requests each
    python benchmarks/bench_decision_cost.py --quick    # smoke run (seconds): tiny sizes
    HIMOE_ROUTELLM_DATA=path/to/gsm8k.csv python benchmarks/bench_decision_cost.py

Three engines, two no-op async experts `weak` and `strong`, state off, run in one process:

- `static k=2`: the static router calls both experts (the issue's reference request);
- `static k=1`: the static router calls one;
- `logistic`: a `logistic` router (hashing encoder, dim 4096, word 1-2-grams + length) picks
  one expert, then `moe.feedback` scores the answer with GSM8K's recorded correctness of the
  model that expert stands for; the cost counted is the decision plus its feedback.

Each batch sends the GSM8K prompts in turn, one request at a time inside one `trio.run`, and
reads the process CPU time (`time.process_time`, every thread) around it; batches of the three
engines are interleaved so that load from other processes falls on all of them alike, and the
figure per engine is the median over batches. Only the public API is used.
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import trio  # noqa: E402
from bench_common import machine, say  # noqa: E402
from noop_expert import NoopExpert  # noqa: E402

from himoe_core import HiMoE  # noqa: E402

DATA = Path(os.environ.get("HIMOE_ROUTELLM_DATA", HERE / "data" / "gsm8k.csv"))
ENCODER = {"id": "hashing", "dim": 4096, "length": True}
TARGET, AIM = 2.5, 1.5


def load_prompts() -> tuple[list[str], dict[str, dict[str, float]]]:
    """The prompts and, per prompt, whether the weak and the strong model got it right."""
    with DATA.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    outcome = {
        row["prompt"]: {"weak": float(row["weak_correct"]), "strong": float(row["strong_correct"])} for row in rows
    }
    return [row["prompt"] for row in rows], outcome


def engine(router: dict) -> HiMoE:
    config = {"routers": {"main": {**router, "experts": ["weak", "strong"]}}, "state": {"enabled": False}}
    return HiMoE(experts=[NoopExpert("weak"), NoopExpert("strong")], entry_points=False, environ={}, config=config)


async def static_batch(moe: HiMoE, prompts: list[str], outcome: dict) -> None:
    for prompt in prompts:
        await moe.run(prompt)


async def learned_batch(moe: HiMoE, prompts: list[str], outcome: dict) -> None:
    for prompt in prompts:
        response = await moe.run(prompt)
        moe.feedback(response.trace_id, reward=outcome[prompt][response.value.as_text()])


def cpu_us_per_request(batch, moe: HiMoE, prompts: list[str], outcome: dict) -> float:
    gc.collect()
    started = time.process_time()
    trio.run(batch, moe, prompts, outcome)
    return 1e6 * (time.process_time() - started) / len(prompts)


def measure(batches: int, size: int) -> dict[str, list[float]]:
    prompts, outcome = load_prompts()
    cases = {
        "static k=2": (engine({"kind": "static", "k": 2}), static_batch),
        "static k=1": (engine({"kind": "static", "k": 1}), static_batch),
        "logistic": (engine({"kind": "logistic", "encoder": ENCODER, "gating": {"seed": 0}}), learned_batch),
    }
    # warm-up: imports, first-request set-up, and the logistic model's arms
    for moe, batch in cases.values():
        trio.run(batch, moe, prompts[:50], outcome)
    figures: dict[str, list[float]] = {name: [] for name in cases}
    for b in range(batches):
        chunk = [prompts[(b * size + i) % len(prompts)] for i in range(size)]
        for name, (moe, batch) in cases.items():
            figures[name].append(cpu_us_per_request(batch, moe, chunk, outcome))
        say(f"batch {b + 1}/{batches}: " + ", ".join(f"{n} {v[-1]:.0f} µs" for n, v in figures.items()))
    for moe, _ in cases.values():
        moe.close()
    return figures


def render(figures: dict[str, list[float]], batches: int, size: int, quick: bool) -> str:
    med = {name: statistics.median(values) for name, values in figures.items()}
    ratio = med["logistic"] / med["static k=2"]
    lines = [
        f"Machine: {machine()}.",
        f"Command: `python benchmarks/bench_decision_cost.py{' --quick' if quick else ''}` "
        f"({batches} interleaved batches of {size} GSM8K prompts per engine; CPU time per request, median over batches).",
        "",
        "| request | CPU per request (median) | batches (µs) |",
        "|---|---:|---|",
    ]
    for name, values in figures.items():
        lines.append(f"| {name} | {med[name]:.0f} µs | {', '.join(f'{v:.0f}' for v in values)} |")
    lines += [
        "",
        f"`logistic` decision + feedback / `static k=2` request: **{ratio:.2f}×** "
        f"(target ≤ {TARGET}×, aim {AIM}×); / `static k=1`: {med['logistic'] / med['static k=1']:.2f}×.",
    ]
    if quick:
        lines.append("**Quick smoke run: sizes too small for the figures to mean anything.**")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--batches", type=int, default=7)
    parser.add_argument("--size", type=int, default=400, help="requests per batch")
    args = parser.parse_args(argv)
    batches, size = (2, 20) if args.quick else (args.batches, args.size)
    if not DATA.exists():
        parser.error(
            f"no GSM8K data at {DATA}; set HIMOE_ROUTELLM_DATA to the CSV (prompt, weak_correct, strong_correct)"
        )
    print(render(measure(batches, size), batches, size, args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
