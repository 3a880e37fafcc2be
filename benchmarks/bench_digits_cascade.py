"""The `cascade` router on the digits experts (issue #21): cheapest first, a learned acceptance
model deciding when to stop, against the best single expert.

    python benchmarks/bench_digits_cascade.py               # 10 seeds (~1 min on 2 cores)
    python benchmarks/bench_digits_cascade.py --quick       # smoke run, figures meaningless
    python benchmarks/bench_digits_cascade.py --write-docs  # also rewrite its block of docs/benchmarks.md

bench_digits_bandit.py's experts and streams (five scikit-learn classifiers of increasing cost,
897 stream rows, 10 seeds shuffling them), its reward per round (correct − cost), counted for a
cascade as the final answer's correctness less the cost of every expert it called. Each request
is `HiMoE.run` through a `cascade` router (no encoder: its acceptance model sees each expert's
confidence — the classifier's probability of its answer — and its agreement with the earlier
answers), each outcome `HiMoE.feedback(reward = correct)` on the final answer only: the router
labels the earlier stages itself from their agreement with it. `cost_weight = 1`: a cost unit is
worth one unit of reward, the benchmark's own exchange rate.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import trio

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bench_digits_bandit as digits  # noqa: E402
from learning_metrics import mean_sd, two_proportion_z  # noqa: E402
from learning_report import cpu_jobs, pm, run_parallel, say, table, write_docs_block  # noqa: E402

from himoe_core import HiMoE  # noqa: E402

ALL = ["naive_bayes", "tree", "logreg", "knn3", "svc_rbf"]
CHEAP = ["naive_bayes", "tree", "logreg"]
POLICIES = [
    {"experts": ALL, "cost_weight": 1.0},
    {"experts": ALL, "cost_weight": 1.0, "prior": 0.1},
    {"experts": CHEAP, "cost_weight": 1.0},
    {"experts": CHEAP, "cost_weight": 1.0, "prior": 0.1},
]


async def _stream(moe: HiMoE, order: np.ndarray, out: np.ndarray) -> None:
    costs = {e.name: e.cost_units for e in digits.EXPERTS}
    for t, i in enumerate(order):
        response = await moe.run(digits.X_STREAM[i], budget_ms=60_000.0)  # a busy machine must not cut it
        correct = float(response.value.as_json()["label"] == int(digits.Y_STREAM[i]))
        called = [call["expert"] for call in response.trace["attempts"][0]["calls"]]
        out[t] = (correct, sum(costs[name] for name in called), len(called))
        moe.feedback(response.trace_id, reward=correct)


def cascade_run(task: tuple[dict[str, Any], int, int]) -> np.ndarray:
    """(correct, cost, stages) per round of stream `seed`."""
    policy, seed, n = task
    order = digits.stream_order(seed, n)
    table_ = {"kind": "cascade", **policy, "gating": {"seed": seed}}
    moe = HiMoE(
        experts=digits.EXPERTS, entry_points=False, config={"routers": {"r": table_}, "state": {"enabled": False}}
    )
    out = np.zeros((len(order), 3))
    trio.run(_stream, moe, order, out)
    moe.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, figures meaningless")
    parser.add_argument(
        "--write-docs", action="store_true", help="rewrite this benchmark's block of docs/benchmarks.md"
    )
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: 2)")
    args = parser.parse_args(argv)
    if args.write_docs and args.quick:
        parser.error("--write-docs needs the full run (no --quick)")
    started = time.perf_counter()
    digits.load_experts()
    jobs = cpu_jobs(args.jobs)
    n = 120 if args.quick else len(digits.Y_STREAM)
    seeds = [0, 1] if args.quick else list(range(10))
    names = [e.name for e in digits.EXPERTS]
    best_arm = int(np.argmax(digits.REWARDS.mean(axis=0)))
    best = names[best_arm]
    singles = []
    for seed in seeds:
        order = digits.stream_order(seed, n)
        singles.append(digits.REWARDS[order, best_arm])
    best_total = mean_sd([float(r.sum()) for r in singles])
    best_correct = int(sum(int((r + digits.EXPERTS[best_arm].cost_units > 0.5).sum()) for r in singles))
    best_cost = digits.EXPERTS[best_arm].cost_units
    tasks = [(policy, seed, n) for policy in POLICIES for seed in seeds]
    results = run_parallel(cascade_run, tasks, jobs, "cascade")
    rows = []
    summary = []
    for p, policy in enumerate(POLICIES):
        runs = results[p * len(seeds) : (p + 1) * len(seeds)]
        totals = [float((r[:, 0] - r[:, 1]).sum()) for r in runs]
        correct = int(sum(r[:, 0].sum() for r in runs))
        cost = float(np.mean([r[:, 1].mean() for r in runs]))
        stages = float(np.mean([r[:, 2].mean() for r in runs]))
        last = float(np.mean([(r[-n // 3 :, 0] - r[-n // 3 :, 1]).mean() for r in runs]))
        z, pvalue = two_proportion_z(correct, n * len(seeds), best_correct, n * len(seeds))
        total = mean_sd(totals)
        met = total[0] >= best_total[0] and cost <= best_cost
        summary.append((policy, total, cost, met))
        rows.append(
            [
                f"`cascade` `{json.dumps(policy, separators=(',', ':'))}`",
                pm(*total),
                f"{total[0] - best_total[0]:+.1f}",
                f"{cost:.4f}",
                f"{stages:.2f}",
                f"{last:.4f}",
                f"{correct} / {n * len(seeds)}",
                f"z = {z:.2f}, p = {pvalue:.3f}",
                "yes" if met else "no",
            ]
        )
    rows.append(
        [
            f"best single expert: `{best}`",
            pm(*best_total),
            "—",
            f"{best_cost:.4f}",
            "1.00",
            f"{float(np.mean([r[-n // 3 :].mean() for r in singles])):.4f}",
            f"{best_correct} / {n * len(seeds)}",
            "—",
            "—",
        ]
    )
    headers = [
        "policy",
        "total reward (mean ± sd)",
        f"vs `{best}`",
        "cost / request",
        "stages / request",
        "reward / round, last third",
        "correct answers (all seeds)",
        f"two-proportion test vs `{best}`",
        "≥ reward at ≤ cost",
    ]
    command = "python benchmarks/bench_digits_cascade.py" + (" --quick" if args.quick else "")
    report = "\n".join(
        [
            "### Cascade: cheapest first, a learned acceptance model (digits, issue #21)\n",
            f"Command: `{command}` (took {time.perf_counter() - started:.0f} s, {jobs} processes). {n} rounds, "
            f"seeds {', '.join(map(str, seeds))}; the experts, streams and reward (correct − cost of every expert "
            "called) of the digits benchmark above; feedback on the final answer only. Experts' costs: "
            + ", ".join(f"`{e.name}` {e.cost_units:g}" for e in digits.EXPERTS)
            + ".\n",
            table(headers, rows) + "\n",
        ]
    )
    sys.stdout.write(report)
    if args.write_docs:
        write_docs_block("digits-cascade", report)
    say(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
