"""The embedding examples of docs/examples/embedding/ run as a user runs them (a fresh Python
process, no network, their own experts) and print what docs/embedding.md says they do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples" / "embedding"


def run_example(name: str, *args: str, cwd: Path) -> list[str]:
    # HIMOE_STATE (set for every test by the root conftest) is inherited: whatever an example
    # writes goes to the test's temporary folder, never the user's state file.
    try:
        result = subprocess.run(
            [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, cwd=cwd, timeout=90
        )
    except subprocess.TimeoutExpired as exc:
        output = b"".join(part or b"" for part in (exc.stdout, exc.stderr))  # bytes, whatever `text` says
        pytest.fail(f"{name} did not finish in 90 s; output so far:\n{output.decode(errors='replace')}")
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout.splitlines()


def test_the_sync_script_answers_hints_errors_and_takes_feedback(tmp_path):
    lines = run_example("sync_script.py", cwd=tmp_path)
    assert lines[0].startswith("'shout: hello world' -> text 'HELLO WORLD!' (router main, expert shouter, ")
    assert lines[1].startswith("'count: one two three four' -> json {'words': 4} (router main, expert word_counter, ")
    assert lines[2] == "hint -> QUIET PLEASE!"
    assert lines[3] == (
        "error -> no expert selected: router 'main' has no expert that can handle text "
        "'translate: bonjour'; its experts are shouter, word_counter"
    )
    assert lines[4] == "feedback -> main {'word_counter': 1.0}"
    assert len(lines) == 5


def test_the_trio_app_runs_concurrently_cuts_at_the_deadline_shadows_and_cancels(tmp_path):
    lines = run_example("trio_app.py", cwd=tmp_path)
    assert lines[:3] == [
        "capital of France -> Paris (librarian ok, oracle timed_out)",
        "capital of Italy -> Rome (librarian ok, oracle timed_out)",
        "largest planet -> Jupiter (librarian ok, oracle timed_out)",
    ]
    assert lines[3].startswith("3 requests in ")
    # Three 100 ms requests ran at once: far less than the 300 ms they would take in turn.
    assert int(lines[3].split()[3]) < 250, lines[3]
    assert lines[4].startswith("primary -> Rome from router quick in ")
    assert lines[5] == "shadow both -> Rome (ok)"
    assert lines[6] == "cancelled -> request cancelled: the user closed the tab"
    assert lines[7] == "move_on_after -> cancelled_caught=True"
    assert len(lines) == 8


def test_the_asyncio_server_answers_concurrent_requests_from_threads(tmp_path):
    lines = run_example("asyncio_app.py", "--self-test", cwd=tmp_path)
    assert lines[:8] == [f"shout: request {i} -> REQUEST {i}" for i in range(8)]
    assert lines[8].startswith("whisper: nobody handles this -> NoExpertSelected: no expert selected: ")
    assert lines[9].startswith("9 requests in ")
    assert len(lines) == 10
