"""What the two fuzzers (test_fuzz_cli.py, test_fuzz_api.py) share: the profile, the hypothesis
settings, and the tally of cases and broken invariants with its report.

The suite runs the short profile (150 cases per fuzzer). `HIMOE_FUZZ_CASES=20000
HIMOE_FUZZ_KEEP_GOING=1` runs the long one: a broken invariant is then counted and listed at the
end rather than failing (and shrinking) the case, progress goes to stderr every 500 cases, and
`HIMOE_FUZZ_REPORT=FILE` appends the final line to FILE.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, settings

CASES = int(os.environ.get("HIMOE_FUZZ_CASES") or 0) or 150  # the suite's short profile: ~15 s idle
FUZZ = settings(
    max_examples=CASES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
KEEP_GOING = bool(os.environ.get("HIMOE_FUZZ_KEEP_GOING"))
PROGRESS_EVERY = 500


class Tally:
    """Counters of one fuzzer, and the broken invariants it found (kind, first 160 characters)."""

    def __init__(self, name: str, *counters: str) -> None:
        self.name = name
        self.counts = dict.fromkeys(("cases", *counters), 0)
        self.found: dict[tuple[str, str], str] = {}
        self.started = time.perf_counter()

    def __getitem__(self, counter: str) -> int:
        return self.counts[counter]

    def add(self, counter: str, n: int = 1) -> None:
        self.counts[counter] += n

    def case(self) -> None:
        """One more case; in the long profile, a progress line every PROGRESS_EVERY cases."""
        self.counts["cases"] += 1
        if CASES > PROGRESS_EVERY and self.counts["cases"] % PROGRESS_EVERY == 0:
            print(
                f"[fuzz {self.name}] {self.counts['cases']}/{CASES} cases, {len(self.found)} broken invariants, "
                f"{time.perf_counter() - self.started:.0f} s",
                file=sys.__stderr__,
                flush=True,
            )

    def broken(self, kind: str, what: str, cause: BaseException | None = None) -> None:
        """A broken invariant: fails the case (hypothesis then shrinks it), or in the long profile
        is counted and listed at the end."""
        if not KEEP_GOING:
            raise AssertionError(what) from cause
        self.counts[kind] += 1
        self.found.setdefault((kind, what[:160]), what[:2000])

    def report_fixture(self, summary: Callable[[Tally], str]) -> Callable[..., object]:
        """A module-scoped autouse fixture that prints `summary(self)` and the broken invariants
        once the module's cases have run, and fails if there were any."""

        @pytest.fixture(scope="module", autouse=True)
        def report(request: pytest.FixtureRequest) -> object:
            failed_before = request.session.testsfailed
            yield
            if request.session.testsfailed != failed_before:
                return
            line = f"{summary(self)}; {time.perf_counter() - self.started:.0f} s"
            listed = "".join(f"  {kind}: {self.found[kind, what]}\n" for kind, what in sorted(self.found))
            print("\n" + line + "\n" + listed, end="")
            if os.environ.get("HIMOE_FUZZ_REPORT"):
                with open(os.environ["HIMOE_FUZZ_REPORT"], "a", encoding="utf-8") as out:
                    out.write(line + "\n" + listed)
            assert not self.found, f"{len(self.found)} broken invariants (listed above)"

        return report
