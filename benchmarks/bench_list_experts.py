"""How long `himoe list-experts` takes, and that it imports no plugin's heavy library.

    python benchmarks/bench_list_experts.py [--runs 10]

Compares the foundation setting (only himoe-planning loaded, HIMOE_LOAD_PLUGINS=himoe-planning)
with every first-party plugin installed, in the same run; prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("spacy", "thinc", "sympy", "sklearn", "scipy", "httpx", "httpcore", "lingua", "PIL", "torch")
HIMOE = Path(sys.executable).parent / "himoe"


def wall_times(env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([str(HIMOE), "list-experts"], env=env, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def imports(env: dict[str, str]) -> tuple[float, list[str]]:
    """Total import time (s) and the heavy top-level packages imported, from -X importtime."""
    code = "import sys; sys.argv = ['himoe', 'list-experts']; from himoe_core._cli.main import main; main()"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], env=env, check=True, capture_output=True, text=True
    )
    total, heavy = 0, set()
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line.split("|"))
        if not name.startswith(" ") and cumulative.isdigit() and line.split("|")[2][1:2] != " ":
            total += int(cumulative)
        top = name.strip().split(".")[0]
        if top in HEAVY:
            heavy.add(top)
    return total / 1e6, sorted(heavy)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    settings = {
        "foundation (himoe-planning only)": dict(os.environ, HIMOE_LOAD_PLUGINS="himoe-planning"),
        "every first-party plugin": {k: v for k, v in os.environ.items() if k != "HIMOE_LOAD_PLUGINS"},
    }
    rows = []
    for label, env in settings.items():
        print(f"measuring: {label}", file=sys.stderr, flush=True)
        wall_times(env, 2)  # warm the OS file cache and .pyc files
        times = wall_times(env, args.runs)
        total, heavy = imports(env)
        rows.append((label, statistics.median(times), total, heavy))
    base = rows[0][1]
    print(
        f"| setting | wall time, median of {args.runs} (s) | imports (s) | ratio to foundation | heavy libraries imported |"
    )
    print("| --- | ---: | ---: | ---: | --- |")
    for label, median, total, heavy in rows:
        print(f"| {label} | {median:.3f} | {total:.3f} | {median / base:.2f}× | {', '.join(heavy) or 'none'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
