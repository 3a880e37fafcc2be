"""What `himoe run` and `himoe demo` print."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

import numpy as np

from .._engine.response import Response
from .._errors import InvalidInput, MoeError
from .._experts.expert_info import accepts
from .._input import InputData, InputLimits

if TYPE_CHECKING:
    from .._engine.himoe import HiMoE


def input_from_args(args: argparse.Namespace) -> InputData:
    given = [
        name
        for name, value in (("TEXT", args.text), ("--features", args.features), ("--bytes", args.bytes_file))
        if value is not None
    ]
    if len(given) != 1:
        raise InvalidInput(
            "give exactly one input: TEXT, --features FILE or --bytes FILE"
            + (f" (got {', '.join(given)})" if given else "")
        )
    # Checked here for shape only: HiMoE.run applies the config's [limits], larger or smaller.
    context = parse_context(getattr(args, "context", None) or [])
    if args.features is not None:
        return InputData.features(
            _read_features(Path(args.features)), task=args.task, context=context, limits=_UNBOUNDED
        )
    if args.bytes_file is not None:
        return InputData.bytes(_read(Path(args.bytes_file)), task=args.task, context=context, limits=_UNBOUNDED)
    return InputData.text(args.text, task=args.task, context=context, limits=_UNBOUNDED)


def parse_context(items: list[str]) -> dict[str, str | float]:
    """`--context KEY=CATEGORY` and `--context KEY:=NUMBER` (HTTPie's notation) → the request's
    context; a key given twice, or a malformed item, is one clear error."""
    context: dict[str, str | float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        number = key.endswith(":")
        key = key[:-1] if number else key
        if not sep or not key.strip():
            raise InvalidInput(f"--context expects KEY=CATEGORY or KEY:=NUMBER, got {item!r}")
        if key in context:
            raise InvalidInput(f"--context {key!r} is given twice; give each key once")
        if number:
            try:
                parsed = float(value)
            except ValueError:
                parsed = math.nan
            if not math.isfinite(parsed):
                raise InvalidInput(f"--context {key}:= expects a finite number, got {value!r}")
            context[key] = parsed
        else:
            context[key] = value
    return context


_NPY_MAGIC = b"\x93NUMPY"
_UNBOUNDED = InputLimits(max_text_chars=2**62, max_bytes=2**62, max_features=2**62, max_task_chars=2**62)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {str(path)!r}: {exc.strerror}") from None


def _read_features(path: Path) -> np.ndarray:
    data = _read(path)
    if path.suffix == ".npy":
        import io

        if not data.startswith(_NPY_MAGIC):
            # numpy would try it as a pickle and suggest loading it unsafely: never the advice here
            raise InvalidInput(
                f"{str(path)!r} is not a .npy file (numpy.save writes them); save the features "
                "with numpy.save, or write them as numbers separated by commas or spaces in a "
                "file without the .npy suffix"
            ) from None
        try:
            array: np.ndarray = np.load(io.BytesIO(data), allow_pickle=False)
            return array
        except ValueError as exc:
            problem = (
                "it holds Python objects, which himoe never loads (loading them can run code); save a numeric array"
                if _holds_objects(io.BytesIO(data))
                else str(exc)
            )
            raise InvalidInput(f"{str(path)!r} is not a readable .npy array: {problem}") from None
    try:
        return np.array([float(v) for v in data.decode("utf-8").replace(",", " ").split()])
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput(f"{str(path)!r}: expected a .npy file or numbers separated by commas or spaces") from None


def _holds_objects(npy: BinaryIO) -> bool:
    """Whether a .npy file's header declares an array of Python objects."""
    try:
        major, _ = np.lib.format.read_magic(npy)
        header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        return header(npy)[2].hasobject
    except ValueError:
        return False


def print_response(response: Response, *, as_json: bool, explain: bool) -> None:
    if as_json:
        json.dump(response.to_jsonable(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return
    print(response.value.render())
    if explain:
        print()
        print(explanation(response.trace))


def explanation(trace: dict[str, Any]) -> str:
    """A table of candidates (gate weight, picked or dropped, latency, confidence) per router
    attempt, then the aggregation."""
    lines = []
    for attempt in trace["attempts"]:
        lines.append(
            f"router {attempt['router']}: {attempt['status']}"
            + (f" — {attempt['error']}" if attempt.get("error") else "")
        )
        calls = {c["expert"]: c for c in attempt.get("calls", [])}
        picked = {p["expert"] for p in attempt.get("picks", [])}
        weights = attempt.get("mix", {}).get("weights", {})
        rows = []
        for gate in attempt.get("gate", []):
            call = calls.get(gate["expert"], {})
            rows.append(
                (
                    gate["expert"],
                    f"{gate['prob']:.3f}",
                    call.get("status", "picked" if gate["expert"] in picked else "-"),
                    f"{call['latency_ms']:.1f}"
                    if call.get("latency_ms") is not None and call.get("status") != "dropped"
                    else "",
                    f"{call['confidence']:.2f}" if call.get("confidence") is not None else "",
                    f"{call['cost_units']:g}" if call.get("cost_units") is not None else "",
                    f"{weights[gate['expert']]:.2f}" if gate["expert"] in weights else "",
                    call.get("cause") or "",
                )
            )
        lines.extend(
            "  " + line for line in _table(("EXPERT", "GATE", "CALL", "MS", "CONF", "COST", "WEIGHT", "NOTE"), rows)
        )
        rest = attempt.get("gate_rest")
        if rest:
            lines.append(
                f"  … and {rest['count']:,} more candidates: gate mass {rest['mass']:.3f}, "
                f"entropy {rest['entropy']:.3f} nats among them"
            )
        mix = attempt.get("mix")
        if mix:
            lines.append(
                f"  aggregation: {mix['aggregator']}, entropy {mix['entropy']:.3f} nats, "
                f"disagreement {format(mix['disagreement'], '.3f') if mix['disagreement'] is not None else '-'}, "
                f"dropped {mix['drop_count']}, fan-out {mix['lat_total_ms']:.1f} ms, cost {mix['cost_units']:g}"
            )
    lines.append(
        f"trace {trace['trace_id']}: {trace.get('elapsed_ms', 0.0):.1f} ms of {trace['budget_ms']:g} ms budget"
    )
    return "\n".join(lines)


def _table(header: Sequence[object], rows: Sequence[Sequence[object]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]


DEMO_REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("plan: launch the website. Write the content, then design the pages, then deploy.", {}),
    ("fr:tag Les enfants jouent dans le jardin.", {}),
    ("math: solve x**2 - 4 = 0", {}),
    ("math: integrate x**2 from 0 to 1", {}),
    ("lang:detect Der schnelle braune Fuchs springt über den faulen Hund.", {}),
]


def run_demo(moe: HiMoE) -> int:
    """Route the demo requests and print each answer with its routing explanation."""
    from .._value import ValueKind

    requests: list[tuple[str, Any]] = [(text, text) for text, _ in DEMO_REQUESTS]
    digits = _demo_digit()
    if digits is not None:
        requests.append(
            (f"a handwritten {digits[1]} from scikit-learn's digits (64 features)", InputData.features(digits[0]))
        )
    failures = 0
    try:
        warm_up(moe)
        for index, (label, x) in enumerate(requests, 1):
            print(f"── request {index}/{len(requests)}: {label}", flush=True)
            try:
                response = moe.run_sync(x, budget_ms=5000)
            except MoeError as exc:
                failures += 1
                print(f"   error: {exc}\n")
                continue
            value = response.value
            rendered = value.render() if value.kind is not ValueKind.JSON else _brief_json(value.data)
            print("   answer: " + rendered.replace("\n", "\n           "))
            print("   " + explanation(response.trace).replace("\n", "\n   ") + "\n", flush=True)
    finally:
        moe.close()
    print(f"{len(requests) - failures}/{len(requests)} requests answered")
    return 0 if failures == 0 else 1


def warm_up(moe: HiMoE, x: InputData | None = None, out: TextIO | None = sys.stdout) -> None:  # out=None: silently
    """Load the experts' models first (those with a `warm_up()`; only those that can handle `x`
    when given), in parallel threads, so that a one-shot command's budget measures routing, not
    the one-off loading of a model."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    experts = [
        e
        for _, _, e in moe.host.experts.items()
        if callable(getattr(e, "warm_up", None)) and (x is None or accepts(e, x.routing_key(), x.kind.value))
    ]
    if not experts:
        return
    if out is not None:
        print(f"loading models of {len(experts)} experts ({', '.join(e.name for e in experts)})…", file=out, flush=True)

    def load(expert: Any) -> str:  # an expert with a warm_up(), which the Expert protocol does not name
        start = time.perf_counter()
        try:
            expert.warm_up()
        except Exception as exc:  # the request that needs it will report the failure precisely
            return f"{expert.name} failed to load: {exc}"
        return f"{expert.name} {time.perf_counter() - start:.1f} s"

    with ThreadPoolExecutor(max_workers=len(experts)) as pool:
        loaded = list(pool.map(load, experts))
    if out is not None:
        print("   " + ", ".join(loaded) + "\n", file=out, flush=True)


def _brief_json(data: Any) -> str:
    if isinstance(data, dict):
        for key in ("pos", "solutions", "result", "language", "label"):
            if key in data:
                extra = {k: data[k] for k in ("confidence", "probabilities") if k in data}
                text = f"{key} = {data[key]}"
                if "probabilities" in extra:
                    text += f" (p = {max(extra['probabilities']):.3f})"
                return text
    return json.dumps(data, ensure_ascii=False)[:300]


def _demo_digit() -> tuple[np.ndarray, int] | None:
    """A held-out digit from scikit-learn's bundled data, when scikit-learn is installed."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        return None
    data = load_digits()
    return data.data[-1], int(data.target[-1])


def parse_pairs(items: list[str], option: str) -> dict[str, float]:
    """`NAME=NUMBER` arguments → a dict; anything else is one clear error."""
    pairs = {}
    for item in items:
        name, sep, number = item.partition("=")
        try:
            pairs[name.strip()] = float(number)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise InvalidInput(f"{option} expects NAME=NUMBER, got {item!r}")
    return pairs


MAX_EXPECTED_DEPTH = 32


def parse_expected(text: str | None) -> Any:
    if text is None:
        return None
    try:
        value = json.loads(text)
        too_deep = _depth(value) > MAX_EXPECTED_DEPTH
    except json.JSONDecodeError:
        return text  # a bare answer such as --expected 7 or --expected Paris
    except RecursionError:
        too_deep = True
    if too_deep:
        raise InvalidInput(f"--expected nests arrays or objects more than {MAX_EXPECTED_DEPTH} levels deep")
    return value


def _depth(value: Any) -> int:
    """How deeply JSON nests (iteratively: the value may be as deep as json could parse)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def print_stats(stats: dict[str, Any]) -> None:
    def fmt(value: Any, spec: str = ".3f") -> str:
        return "-" if value is None else format(value, spec)

    print(f"state: {stats['state']}")
    late = stats.get("feedback_late")
    print(
        f"requests {stats['requests']}, answered {stats['answered']}, feedback {stats['feedback']}"
        + (f" ({late} late: after the {stats['reward_window_s']:g} s reward window)" if late else "")
    )
    if stats["errors"]:
        print("errors: " + ", ".join(f"{k} {v}" for k, v in stats["errors"].items()))
    rows = [
        ("quality (mean reward)", fmt(stats["quality"])),
        ("calibration (ECE, 10 bins)", fmt(stats["calibration_ece"])),
        ("load balance (CV² of picks)", fmt(stats["load_balance_cv2"])),
        (
            "latency p50 / p95 (ms)",
            f"{fmt(stats['latency_ms']['p50'], '.1f')} / {fmt(stats['latency_ms']['p95'], '.1f')}",
        ),
        ("cost per request (units)", fmt(stats["cost_units"]["mean"])),
        ("gating drift (KL, last window)", fmt(stats["gating_drift_kl"], ".4f")),
        ("disagreement (mean)", fmt(stats["disagreement"])),
    ]
    for line in _table(("METRIC", "VALUE"), rows):
        print(line)
    if stats["utilisation"]:
        print()
        for line in _table(("EXPERT", "SHARE OF PICKS"), [(k, f"{v:.3f}") for k, v in stats["utilisation"].items()]):
            print(line)
