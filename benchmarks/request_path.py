"""Which himoe_core files one request runs through, and how often it crosses from one to another.

    python benchmarks/request_path.py [--json]

The request: a static router, k = 2, state off, two async experts that answer at once; the
engine is warmed up first, so imports and first-use caches are not counted. Every Python call
is followed with sys.setprofile; a *crossing* is a call whose caller and callee live in
different himoe_core files (its return is not counted again). Prints the files in the order first entered, with the
functions called in each, and the totals (targets: at most 16 files, at most 45 crossings).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from noop_expert import NoopExpert  # noqa: E402

from himoe_core import HiMoE  # noqa: E402

CORE = str(Path(__import__("himoe_core").__file__).resolve().parent)


def _core_file(frame) -> str | None:
    name = frame.f_code.co_filename
    return name[len(CORE) + 1 :] if name.startswith(CORE) else None


def trace_request() -> dict:
    config = {"state": {"enabled": False}, "routers": {"main": {"kind": "static", "k": 2, "experts": ["a", "b"]}}}
    moe = HiMoE(config=config, experts=[NoopExpert("a"), NoopExpert("b")], entry_points=False)
    files: dict[str, set[str]] = {}
    crossings = 0

    def profile(frame, event, arg):
        nonlocal crossings
        if event != "call":
            return
        here = _core_file(frame)
        caller = frame.f_back
        there = _core_file(caller) if caller is not None else None
        if here is not None:
            files.setdefault(here, set()).add(frame.f_code.co_name)
        if event == "call" and here is not None and there is not None and here != there:
            crossings += 1

    async def main():
        await moe.run("warm up", budget_ms=1000)
        sys.setprofile(profile)
        try:
            await moe.run("one request", budget_ms=1000)
        finally:
            sys.setprofile(None)

    trio.run(main)
    return {
        "files": {name: sorted(functions) for name, functions in files.items()},
        "file_count": len(files),
        "crossings": crossings,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    result = trace_request()
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print("| himoe_core file | functions |\n|---|---|")
    for name, functions in result["files"].items():
        print(f"| `{name}` | {', '.join(functions)} |")
    print(f"\n{result['file_count']} files (target <= 16), {result['crossings']} crossings (target <= 45)")


if __name__ == "__main__":
    main()
