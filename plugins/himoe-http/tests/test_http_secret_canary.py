"""A canary secret in every secret-bearing field of a himoe-http config — URL credentials, URL
query values, api_key_env, header values, the key in the environment — driven through every
config error path and every listing of the `himoe` command (--debug included), a run whose
trace goes to the state file, and the logs: the canary never appears (issue 17, D5)."""

from __future__ import annotations

import json
import logging
import os
import sqlite3

import pytest

from himoe_core._cli.main import main

CANARY = "CANARY7f3c9d2eSECRET"
NUMERIC_CANARY = 7319046285  # a token given as a number in a header


def toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid TOML basic string


def config_file(tmp_path, name: str, table: dict) -> str:
    lines = [f"[plugins.himoe-http.experts.{name}]"]
    for key, value in table.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in value.items())
            lines.append(f"{key} = {{ {inner} }}")
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    path = tmp_path / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


BASE = {"kind": "openai-chat", "model": "m", "tasks": ["chat:"]}

BAD_CONFIGS = {
    "bad_port": {**BASE, "url": f"http://user:{CANARY}@127.0.0.1:99999/v1"},
    "space": {**BASE, "url": f"http://user:{CANARY}@example.org /v1"},
    "scheme": {**BASE, "url": f"ftp://user:{CANARY}@example.org/v1"},
    "credentials": {**BASE, "url": f"http://user:{CANARY}@example.org/v1"},
    "query_bad_port": {**BASE, "url": f"http://example.org:http/v1?key={CANARY}"},
    "pasted_key": {**BASE, "url": "http://127.0.0.1:1/v1", "api_key_env": f"sk-{CANARY}"},
    "pasted_key_type": {**BASE, "url": "http://127.0.0.1:1/v1", "api_key_env": [CANARY]},
    "header_number": {**BASE, "url": "http://127.0.0.1:1/v1", "headers": {"X-Key": NUMERIC_CANARY}},
    "header_break": {**BASE, "url": "http://127.0.0.1:1/v1", "headers": {"X-Key": f"{CANARY}\nx"}},
}


def leaked(text: str) -> bool:
    return CANARY in text or str(NUMERIC_CANARY) in text


def himoe(capsys, *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    monkeypatch.setenv("HIMOE_LOAD_PLUGINS", "himoe-http")
    monkeypatch.setenv("HIMOE_STATE", str(tmp_path / "state.sqlite3"))
    monkeypatch.setenv("CANARY_KEY", CANARY)


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_d5_no_config_error_shows_the_secret(tmp_path, capsys, caplog, cli_env, name):
    caplog.set_level(logging.DEBUG)
    config = config_file(tmp_path, name, BAD_CONFIGS[name])
    for argv in (
        ["list-experts"],
        ["list-experts", "--json"],
        ["plugins"],
        ["run", "chat: hi"],
        ["--debug", "list-experts"],
        ["--debug", "run", "chat: hi"],
    ):
        code, output = himoe(capsys, *argv, "--config", config)
        assert code == 1, (argv, output)
        assert f"plugins.himoe-http.experts.{name}" in output, output  # the error names the key…
        assert not leaked(output), (argv, output)  # …never the secret
    assert not leaked(caplog.text)


def test_d5_listings_runs_traces_and_logs_keep_url_and_header_secrets_out(loopback, tmp_path, capsys, caplog, cli_env):
    caplog.set_level(logging.DEBUG)  # httpx logs every request line, URL included
    tables = {
        "query_key": {
            **BASE,
            "url": loopback.url(f"/ok?key={CANARY}"),
            "api_key_env": "CANARY_KEY",
            "headers": {"X-Token": f"t-{CANARY}"},
        },
        "echoing": {
            **BASE,
            "url": loopback.url(f"/echo-auth?token={CANARY}&plain=1"),
            "tasks": ["ask:"],
            "api_key_env": "CANARY_KEY",
        },  # the server puts the key in its answer
        "unreachable": {**BASE, "url": f"http://127.0.0.1:1/v1?key={CANARY}", "tasks": ["down:"], "max_retries": 0},
    }
    path = tmp_path / "himoe.toml"
    path.write_text("".join(open(config_file(tmp_path, name, table)).read() for name, table in tables.items()))
    config = str(path)
    outputs = []
    for argv in (
        ["list-experts"],
        ["list-experts", "--json"],
        ["plugins", "--json"],
        ["plugins", "--all"],
        ["run", "chat: hi", "--json", "--budget-ms", "5000"],
        ["run", "ask: hi", "--explain", "--budget-ms", "5000"],
        ["--debug", "run", "down: hi", "--budget-ms", "2000"],
        ["run", "down: hi", "--json", "--budget-ms", "2000"],
    ):
        code, output = himoe(capsys, *argv, "--config", config)
        outputs.append((argv, code, output))
    assert [code for _, code, _ in outputs] == [0, 0, 0, 0, 0, 0, 1, 1], outputs
    assert "query_key" in outputs[0][2] and "key=***" in outputs[0][2]  # the listing shows where, not the key
    assert "you said: hi" in outputs[4][2]
    for argv, _, output in outputs:
        assert not leaked(output), (argv, output)
    assert loopback.records and all(
        record["headers"]["Authorization"] == f"Bearer {CANARY}" for record in loopback.records
    )  # it was really sent
    assert not leaked(caplog.text), caplog.text
    code, output = himoe(capsys, "stats", "--json")
    assert code == 0 and not leaked(output)
    with sqlite3.connect(os.environ["HIMOE_STATE"]) as db:
        for table in ("traces", "feedback", "router_state", "expert_state"):
            for row in db.execute(f"SELECT * FROM {table}"):
                assert not leaked(repr(row)), (table, row)
