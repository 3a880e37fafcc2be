"""What compiling the engine's hot path would buy: the overhead benchmark on himoe as it ships
(pure Python) and on a copy whose request-path modules are compiled with Cython, each side beside
its own bare nursery, alternating runs.

    python benchmarks/compiled_overhead.py [--runs 2] [--quick]

Needs a C compiler and the Python headers; Cython and setuptools are installed from PyPI into a
temporary folder when this interpreter lacks them (nothing is installed into the project). The
copy is compiled as it is — no type declarations, behaviour unchanged (`annotation_typing` off)
— which is what "compile the hot path" could ship without rewriting it. The markdown table goes
to stdout, progress to stderr. docs/benchmarks.md ("What it would take to reach 2×") quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_common import median, say

ROOT = Path(__file__).resolve().parent.parent
HOT_MODULES = (
    "himoe_core/_engine/himoe.py",
    "himoe_core/_engine/trace_record.py",
    "himoe_core/_engine/trace_store.py",
    "himoe_core/_engine/feedback_trainer.py",
    "himoe_core/_router/base_router.py",
    "himoe_core/_router/static_router.py",
    "himoe_core/_router/expert_stats.py",
    "himoe_core/_router/gate_scores.py",
    "himoe_core/_aggregator/mixing.py",
    "himoe_core/_aggregator/confidence_aggregator.py",
    "himoe_core/_orchestrator/rules_orchestrator.py",
    "himoe_core/_context/context.py",
    "himoe_core/_context/cancel_token.py",
    "himoe_core/_experts/expert_aux.py",
    "himoe_core/_value/value.py",
    "himoe_core/_input/input_data.py",
)
"""The modules a request runs through (py-spy of benchmarks/request_loop.py), attrs-generated
methods aside: attrs writes those at import time, so they stay interpreted."""

_BUILD = """
import sys
from setuptools import setup
from Cython.Build import cythonize
setup(packages=[], py_modules=[], script_args=["build_ext", "--inplace", "-j", "2"],
      ext_modules=cythonize(sys.argv[1:], quiet=True, compiler_directives={
          "language_level": 3, "binding": True, "annotation_typing": False}))
"""

_MEASURE = """
import json, sys
import bench_overhead, himoe_core._router.base_router as hot
rows = bench_overhead.run(quick=sys.argv[1] == "quick")["rows"]
print(json.dumps({"compiled": not hot.__file__.endswith(".py"), "rows": rows}))
"""


def _cython_path(workdir: Path) -> str:
    """A PYTHONPATH entry under which Cython and setuptools import ('' when this interpreter has them)."""
    probe = subprocess.run([sys.executable, "-c", "import Cython, setuptools"], capture_output=True)
    if probe.returncode == 0:
        return ""
    target = workdir / "tools"
    say("installing Cython and setuptools into a temporary folder (PyPI)")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), "cython", "setuptools"], check=True
    )
    return str(target)


def compiled_copy(workdir: Path) -> Path:
    """A copy of himoe_core whose HOT_MODULES are compiled extension modules (imported before the
    .py beside them); the folder to put first on PYTHONPATH."""
    tools = _cython_path(workdir)
    tree = workdir / "compiled"
    shutil.copytree(ROOT / "himoe_core", tree / "himoe_core", ignore=shutil.ignore_patterns("__pycache__"))
    say(f"compiling {len(HOT_MODULES)} modules with Cython (about half a minute on 2 cores)")
    env = dict(os.environ, PYTHONPATH=tools)
    done = subprocess.run(
        [sys.executable, "-c", _BUILD, *HOT_MODULES], cwd=tree, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(
            f"the Cython build failed (a C compiler and the Python headers are needed):\n{done.stderr[-3000:]}"
        )
    return tree


def measure(package_dir: Path | None, quick: bool) -> dict:
    """bench_overhead's rows, in a fresh interpreter importing himoe_core from `package_dir`
    (None: the project's own)."""
    env = dict(os.environ)
    if package_dir is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(package_dir), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, "quick" if quick else "full"],
        cwd=ROOT / "benchmarks",
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def report(runs: dict[str, list[dict]]) -> str:
    lines = [
        "| k | bare nursery µs | himoe (pure Python), state off µs | ratio | himoe (Cython), state off µs "
        "| ratio | default config, all threads: pure / Cython |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ks = [row["k"] for row in runs["pure"][0]["rows"]]
    for index, k in enumerate(ks):

        def figure(side: str, key: str, index: int = index) -> float:
            return median([run["rows"][index][key] for run in runs[side]])

        bare = median([run["rows"][index]["bare_us"] for side in runs for run in runs[side]])
        lines.append(
            f"| {k} | {bare:.1f} | {figure('pure', 'engine_off_us'):.1f} | "
            f"**{figure('pure', 'engine_off_ratio'):.2f}×** | {figure('compiled', 'engine_off_us'):.1f} | "
            f"**{figure('compiled', 'engine_off_ratio'):.2f}×** | "
            f"{figure('pure', 'engine_process_ratio'):.2f}× / {figure('compiled', 'engine_process_ratio'):.2f}× |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="overhead runs per side, alternating")
    parser.add_argument("--quick", action="store_true", help="bench_overhead's quick size")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="himoe-compiled-") as workdir:
        tree = compiled_copy(Path(workdir))
        runs: dict[str, list[dict]] = {"pure": [], "compiled": []}
        for index in range(args.runs):
            for side, package in (("pure", None), ("compiled", tree)):
                say(f"overhead run {index + 1}/{args.runs}: {side}")
                result = measure(package, args.quick)
                if result["compiled"] != (side == "compiled"):
                    raise SystemExit(f"the {side} run imported the wrong himoe_core")
                runs[side].append(result)
    print(report(runs))
    print(f"\nMedians over {args.runs} run(s) per side; each ratio is against the bare nursery of its own run.")


if __name__ == "__main__":
    main()
