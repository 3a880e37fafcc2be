"""Many experts (issue #22): build time, CPU per request and resident memory as the number of
experts grows, on the real engine (`HiMoE(...)`, `HiMoE.run`, `HiMoE.feedback`).

    python benchmarks/bench_many_experts.py                      # the full table (~3 min idle)
    python benchmarks/bench_many_experts.py --plot docs/img/many_experts.png
    python benchmarks/bench_many_experts.py --baseline-src /tmp/old-checkout   # side by side
    python benchmarks/bench_many_experts.py --quick              # smoke run, figures meaningless

Scenarios, each router with k = 4 and state off, every cell in a fresh process (so that its
resident memory is its own):

- `static`: a static router over n experts that all accept the request through `can_handle`;
  the config names every expert (`experts = ["e00000", ...]`, as a config listing its experts does).
- `declarative`: n experts in groups of 4, each group declaring one task prefix
  (`handles = ("p17:",)`), its `can_handle` saying the same; the request's task matches one group.
- `logistic`: a `logistic` router with the `hashing` encoder (dim 256) over n experts whose arms
  all learned (one warm-up request calls every expert and takes feedback); each measured request
  is a decision plus its feedback (`run` + `feedback`).

CPU per request is the process's CPU time (every thread) over the measured requests, divided by
their number. Memory: the rise of RSS while the engine is built (registered experts, their
indexes) and, for `logistic`, while every arm learns once (learned arms).

With `--baseline-src DIR` (a checkout of an older commit, e.g. `git worktree add DIR main~3`) each
cell also runs on that code, in the same run, alternating with the current code: the ratios
`before / after` come from one run on one machine. Progress goes to stderr; the markdown report
to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SIZES = (10, 100, 1_000, 10_000)
DECLARATIVE_SIZES = (10, 100, 1_000, 10_000, 100_000)
SCENARIOS = ("static", "declarative", "logistic")
K = 4
GROUP = 4  # declarative experts per task prefix


# -- one cell, in its own process ------------------------------------------------------------------
def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _experts(scenario: str, n: int) -> list[Any]:
    import trio

    from himoe_core import Value

    class Capable:
        """Accepts every request through `can_handle` (declares nothing)."""

        domain = "benchmark"

        def __init__(self, name: str) -> None:
            self.name = name
            self.answer = Value.text(name)

        def can_handle(self, task: str) -> bool:
            return True

        async def infer(self, x, ctx) -> Value:
            await trio.lowlevel.checkpoint()
            return self.answer

    class Declared(Capable):
        """Declares the one task prefix it handles; its `can_handle` says the same."""

        def __init__(self, name: str, prefix: str) -> None:
            super().__init__(name)
            self.handles = (prefix,)
            self.prefix = prefix

        def can_handle(self, task: str) -> bool:
            return task.startswith(self.prefix)

    if scenario == "declarative":
        return [Declared(f"e{i:06d}", f"p{i // GROUP}:") for i in range(n)]
    return [Capable(f"e{i:06d}") for i in range(n)]


def _config(scenario: str, experts: list[Any]) -> dict[str, Any]:
    table: dict[str, Any] = {"kind": "static", "k": K, "aggregator": "best_score"}
    if scenario == "declarative":
        table["experts"] = ["*"]
    else:
        table["experts"] = [e.name for e in experts]
    if scenario == "logistic":
        table.update(kind="logistic", encoder={"id": "hashing", "dim": 256}, gating={"seed": 1})
    return {
        "routers": {"main": table},
        "orchestrator": {"kind": "rules", "rules": [{"router": "main", "input": "text"}]},
        "state": {"enabled": False},
    }


def run_cell(scenario: str, n: int, cpu_seconds: float) -> dict[str, Any]:
    import trio

    import himoe_core
    from himoe_core import HiMoE

    experts = _experts(scenario, n)
    config = _config(scenario, experts)
    rss_start = _rss_mb()
    started = time.perf_counter()
    moe = HiMoE(experts=experts, entry_points=False, environ={}, config=config)
    build_s = time.perf_counter() - started
    rss_built = _rss_mb()
    result: dict[str, Any] = {
        "src": str(Path(himoe_core.__file__).parents[1]),
        "scenario": scenario,
        "n": n,
        "build_s": build_s,
        "rss_experts_mb": rss_built - rss_start,
    }
    task = f"p{(n // GROUP) // 2}: hello" if scenario == "declarative" else None

    async def main() -> None:
        if scenario == "logistic":
            before = _rss_mb()
            warm = await moe.run("every arm learns once", k=n, budget_ms=600_000)  # n calls at once
            moe.feedback(warm.trace_id, reward=1.0)
            del warm
            result["rss_arms_mb"] = _rss_mb() - before
        count, spent = 0, 0.0
        for i in range(3):  # warm-up: memoised gates, imports, first allocations
            await _one(i)
        while spent < cpu_seconds or count < 5:
            batch = max(1, count // 2 or 1)
            cpu = time.process_time()
            for i in range(batch):
                await _one(count + i)
            spent += time.process_time() - cpu
            count += batch
        result["requests"] = count
        result["cpu_ms"] = spent * 1000.0 / count
        first = await _one(0)
        result["trace_gate_entries"] = len(first.trace["attempts"][-1].get("gate", []))

    async def _one(i: int):
        if scenario == "logistic":
            response = await moe.run(f"request number {i % 50} about topic {i % 7}")
            moe.feedback(response.trace_id, reward=float(i % 2))
            return response
        return await moe.run("hello" if task is None else f"{task} {i % 50}")

    trio.run(main)
    result["rss_total_mb"] = _rss_mb()
    moe.close()
    return result


# -- the driver --------------------------------------------------------------------------------------
def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def cell_in_child(scenario: str, n: int, cpu_seconds: float, src: Path | None) -> dict[str, Any] | None:
    env = dict(os.environ)
    if src is not None:  # an older checkout: its packages come first on the path
        env["PYTHONPATH"] = os.pathsep.join([str(src), str(src / "registry"), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--cell", scenario, str(n), "--cpu-seconds", str(cpu_seconds)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:  # reported, and the run goes on with the other cells
        say(f"cell {scenario} n={n} failed:\n{proc.stderr[-3000:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt_ms(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def report(rows: list[dict[str, Any]], base: dict[tuple[str, int], dict[str, Any]]) -> str:
    lines = []
    header = "| scenario | experts | build | CPU / request | RSS: experts | RSS: learned arms |"
    if base:
        header += " build before | CPU / request before |"
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    for row in rows:
        arms = row.get("rss_arms_mb")
        cells = [
            row["scenario"],
            f"{row['n']:,}",
            f"{row['build_s'] * 1000:.0f} ms" if row["build_s"] < 10 else f"{row['build_s']:.1f} s",
            f"{fmt_ms(row['cpu_ms'])} ms",
            f"{row['rss_experts_mb']:.1f} MB",
            "" if arms is None else f"{arms:.1f} MB",
        ]
        old = base.get((row["scenario"], row["n"]))
        if base:
            cells += (
                ["", ""]
                if old is None
                else [
                    f"{old['build_s'] * 1000:.0f} ms" if old["build_s"] < 10 else f"{old['build_s']:.1f} s",
                    f"{fmt_ms(old['cpu_ms'])} ms",
                ]
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(rows: list[dict[str, Any]]) -> str:
    by = {(r["scenario"], r["n"]): r for r in rows}

    def ratio(a: tuple[str, int], b: tuple[str, int], what: str) -> float | None:
        return by[a][what] / by[b][what] if a in by and b in by else None

    checks = [
        ("build 10,000 / 1,000 (static, by name) <= 15", ratio(("static", 10_000), ("static", 1_000), "build_s"), 15),
        ("CPU static 10,000 / 10 <= 5", ratio(("static", 10_000), ("static", 10), "cpu_ms"), 5),
        ("CPU declarative 100,000 / 10 <= 1.5", ratio(("declarative", 100_000), ("declarative", 10), "cpu_ms"), 1.5),
        ("CPU logistic 1,000 / 10 <= 3", ratio(("logistic", 1_000), ("logistic", 10), "cpu_ms"), 3),
    ]
    lines = []
    for label, value, bound in checks:
        if value is not None:
            lines.append(f"- {label}: {value:.2f}x ({'met' if value <= bound else 'not met'})")
    build = by.get(("static", 10_000))
    if build is not None:
        lines.append(
            f"- build of 10,000 under 1 s: {build['build_s']:.2f} s ({'met' if build['build_s'] < 1 else 'not met'})"
        )
    for scenario in ("static", "logistic"):
        small, big = by.get((scenario, 1_000)), by.get((scenario, 10_000))
        if small and big:
            lines.append(
                f"- RSS per 1,000 registered experts ({scenario}): "
                f"{(big['rss_experts_mb'] - small['rss_experts_mb']) / 9:.2f} MB"
            )
    small, big = by.get(("logistic", 1_000)), by.get(("logistic", 10_000))
    if small and big and "rss_arms_mb" in small:
        lines.append(f"- RSS per 1,000 learned arms: {(big['rss_arms_mb'] - small['rss_arms_mb']) / 9:.2f} MB")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], base: dict[tuple[str, int], dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for scenario in SCENARIOS:
        mine = [r for r in rows if r["scenario"] == scenario]
        if not mine:
            continue
        ns = [r["n"] for r in mine]
        (line,) = right.plot(ns, [r["cpu_ms"] for r in mine], "o-", label=scenario)
        left.plot(ns, [r["build_s"] for r in mine], "o-", color=line.get_color(), label=scenario)
        old = [base[(scenario, n)] for n in ns if (scenario, n) in base]
        if old:
            right.plot(
                [r["n"] for r in old],
                [r["cpu_ms"] for r in old],
                "x--",
                color=line.get_color(),
                alpha=0.6,
                label=f"{scenario}, before",
            )
            left.plot(
                [r["n"] for r in old],
                [r["build_s"] for r in old],
                "x--",
                color=line.get_color(),
                alpha=0.6,
                label=f"{scenario}, before",
            )
    for axis, title, unit in ((left, "build HiMoE", "seconds"), (right, "CPU per request", "ms")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("experts")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    say(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes and budgets: a smoke run")
    parser.add_argument("--sizes", default=None, help="comma-separated expert counts (default 10,100,1000,10000)")
    parser.add_argument("--declarative-sizes", default=None, help="default 10,100,1000,10000,100000")
    parser.add_argument("--only", default=None, help=f"comma-separated scenarios among {', '.join(SCENARIOS)}")
    parser.add_argument("--cpu-seconds", type=float, default=None, help="CPU time measured per cell (default 1.5)")
    parser.add_argument("--baseline-src", type=Path, default=None, help="an older checkout to run beside this one")
    parser.add_argument("--plot", type=Path, default=None, help="write a log-log plot (PNG) here")
    parser.add_argument("--json", type=Path, default=None, help="write the raw figures here")
    parser.add_argument("--cell", nargs=2, metavar=("SCENARIO", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cell:
        print(json.dumps(run_cell(args.cell[0], int(args.cell[1]), args.cpu_seconds or 1.5)))
        return
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([10, 100] if args.quick else list(SIZES))
    declarative = (
        [int(s) for s in args.declarative_sizes.split(",")]
        if args.declarative_sizes
        else ([10, 100] if args.quick else list(DECLARATIVE_SIZES))
    )
    scenarios = args.only.split(",") if args.only else list(SCENARIOS)
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}; choose among {', '.join(SCENARIOS)}")
    cpu_seconds = args.cpu_seconds or (0.05 if args.quick else 1.5)
    rows, base = [], {}
    for scenario in scenarios:
        for n in declarative if scenario == "declarative" else sizes:
            for src in ([args.baseline_src] if args.baseline_src else []) + [None]:
                started = time.perf_counter()
                row = cell_in_child(scenario, n, cpu_seconds, src)
                if row is None:
                    continue
                which = "before" if src is not None else "now"
                say(
                    f"{scenario:<11} n={n:>7,} {which:<6}: build {row['build_s'] * 1000:8.1f} ms, "
                    f"{row['cpu_ms']:8.3f} ms CPU/request over {row['requests']} requests, "
                    f"RSS +{row['rss_experts_mb']:.1f} MB ({time.perf_counter() - started:.0f} s)"
                )
                if src is not None:
                    base[(scenario, n)] = row
                else:
                    rows.append(row)
    print(f"k = {K}, state off; command: python benchmarks/bench_many_experts.py {' '.join(sys.argv[1:])}".rstrip())
    print()
    print(report(rows, base))
    print()
    print(targets(rows))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "baseline": [base[key] for key in base]}, indent=1))
    if args.plot:
        plot(rows, base, args.plot)


if __name__ == "__main__":
    main()
