"""Latency of the himoe-vision experts: p50 of the first call vs warm calls.

The first call of an expert trains its model (and imports scikit-learn); it is measured in fresh
Python processes, one per run, so every run pays the real cold cost. Warm calls are measured in
this process after the model is trained, for each input kind (64-value feature vector, 32×32 PGM
bytes, 32×32 PNG bytes). Times are the `infer` call alone.

    python plugins/himoe-vision/benchmarks/bench_vision_latency.py [--first-runs 5] [--warm-runs 300] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import time

import numpy as np

EXPERTS = {"vision_digits_linear": "DigitsLinearExpert", "vision_digits_svc": "DigitsSvcExpert"}

_FIRST_CALL = """
import time, numpy as np
from himoe_core import Context, InputData
from himoe_vision import {cls}
expert = {cls}()
x = InputData.features(np.zeros(64))
start = time.perf_counter()
expert.infer(x, Context.start(60_000))
print((time.perf_counter() - start) * 1000.0)
"""


def first_call_ms(cls: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-c", _FIRST_CALL.format(cls=cls)], capture_output=True, text=True, check=True, timeout=300
        )
        times.append(float(result.stdout.strip().splitlines()[-1]))
    return times


def sample_inputs():
    from himoe_vision.data.digits_split import held_out_split
    from himoe_vision.imaging.pgm import encode_pgm
    from PIL import Image

    from himoe_core import InputData

    digit = held_out_split()[0][0]
    image = np.rint(255.0 * (1.0 - np.kron(digit.reshape(8, 8), np.ones((4, 4))) / 16.0)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image, mode="L").save(buffer, format="PNG")
    return {
        "features": InputData.features(digit),
        "pgm 32x32": InputData.bytes(encode_pgm(image)),
        "png 32x32": InputData.bytes(buffer.getvalue()),
    }


def warm_ms(expert, x, runs: int) -> list[float]:
    from himoe_core import Context

    ctx = Context.start(600_000)
    for _ in range(10):
        expert.infer(x, ctx)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        expert.infer(x, ctx)
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first-runs", type=int, default=5, help="fresh processes per expert (default 5)")
    parser.add_argument("--warm-runs", type=int, default=300, help="warm calls per expert and input (default 300)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    args = parser.parse_args()

    import himoe_vision

    rows = []
    for name, cls in EXPERTS.items():
        first = first_call_ms(cls, args.first_runs)
        rows.append(
            {
                "expert": name,
                "call": "first (trains)",
                "input": "features",
                "p50_ms": statistics.median(first),
                "runs": len(first),
            }
        )
        expert = getattr(himoe_vision, cls)()
        expert.warm_up()
        for kind, x in sample_inputs().items():
            warm = warm_ms(expert, x, args.warm_runs)
            rows.append(
                {
                    "expert": name,
                    "call": "warm",
                    "input": kind,
                    "p50_ms": statistics.median(warm),
                    "p95_ms": float(np.percentile(warm, 95)),
                    "runs": len(warm),
                }
            )
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
        return 0
    print("| expert | call | input | p50 ms | p95 ms | runs |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for row in rows:
        p95 = f"{row['p95_ms']:.2f}" if "p95_ms" in row else "-"
        print(f"| {row['expert']} | {row['call']} | {row['input']} | {row['p50_ms']:.2f} | {p95} | {row['runs']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
