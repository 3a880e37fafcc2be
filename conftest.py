"""Test-session defaults for the whole workspace."""

import pytest


@pytest.fixture(autouse=True)
def _private_state_file(tmp_path, monkeypatch):
    # Never write a developer's real ~/.local/share/himoe/state.sqlite3 from a test, in this
    # process or in the `himoe` subprocesses tests start (they inherit the environment).
    monkeypatch.setenv("HIMOE_STATE", str(tmp_path / "himoe-state.sqlite3"))
