"""The installed distribution: entry point, import lightness, the engine end to end, layout."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from himoe_core import HiMoE
from himoe_core.plugins import PluginHost

PACKAGE = Path(__file__).resolve().parents[1] / "himoe_http"


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "himoe_core", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_http_plugin_is_installed():
    # The real console script finds the distribution through its entry point.
    result = run_cli("plugins", "--json", env={"HIMOE_STRICT_PLUGINS": "1"})
    assert result.returncode == 0, result.stderr
    plugins = {p["distribution"]: p for p in json.loads(result.stdout)}
    assert plugins["himoe-http"]["version"] == "0.1.0"
    assert plugins["himoe-http"]["hooks"] == ["register_encoders", "register_experts"]
    assert plugins["himoe-http"]["error"] is None
    # With no [plugins.himoe-http] config it registers no expert (and lists fine).
    result = run_cli("list-experts", "--json", env={"HIMOE_STRICT_PLUGINS": "1"})
    assert result.returncode == 0, result.stderr
    assert [e for e in json.loads(result.stdout) if e["plugin"] == "himoe-http"] == []


def test_http_plugin_lists_configured_experts_with_distribution_and_version():
    config = {
        "plugins": {
            "himoe-http": {
                "experts": {
                    "local_llm": {
                        "kind": "openai-chat",
                        "url": "http://127.0.0.1:8080/v1/chat/completions",
                        "model": "llama-3-8b",
                        "tasks": ["chat:"],
                    },
                    "sentiment_api": {"kind": "json", "url": "http://127.0.0.1:8081/classify", "tasks": ["sentiment:"]},
                }
            }
        }
    }
    host = PluginHost(config=config, strict=True, environ={"HIMOE_LOAD_PLUGINS": "himoe-http"})
    infos = {info.name: info.to_jsonable() for info in host.expert_infos()}
    assert set(infos) == {"local_llm", "sentiment_api"}
    for info in infos.values():
        assert info["plugin"] == "himoe-http" and info["version"] == "0.1.0" and info["domain"] == "http"
        assert re.fullmatch(r"[0-9a-f]{16}", info["id"])


def test_http_plugin_serves_himoe_run_from_a_toml_config(loopback, tmp_path):
    config = tmp_path / "himoe.toml"
    # a generous budget: the first request imports httpx and connects, which takes over the default
    # second on a busy machine
    config.write_text(
        f"""
[himoe]
budget_ms = 60000

[plugins.himoe-http.experts.local_llm]
kind = "openai-chat"
url = "{loopback.url("/ok")}"
model = "llama-3-8b"
api_key_env = "LOCAL_LLM_KEY"
tasks = ["chat:", "ask:"]
price_per_1k_input = 0.5
price_per_1k_output = 1.5
system_prompt = "You are helpful."
""",
        encoding="utf-8",
    )
    env = {"HIMOE_LOAD_PLUGINS": "himoe-http", "HIMOE_STRICT_PLUGINS": "1", "LOCAL_LLM_KEY": "sk-cli-test"}
    result = run_cli("run", "ask: hello from the command line", "--config", str(config), "--json", env=env)
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["value"] == {"kind": "text", "schema": 1, "data": "you said: hello from the command line"}
    assert loopback.records[0]["headers"]["Authorization"] == "Bearer sk-cli-test"
    assert "sk-cli-test" not in result.stdout
    # A bad config is one clear error line naming the key.
    config.write_text(config.read_text().replace('kind = "openai-chat"', 'kind = "openai-chat"\nmodle = "x"'))
    result = run_cli("run", "ask: hi", "--config", str(config), env=env)
    assert result.returncode == 1
    assert "plugins.himoe-http.experts.local_llm.modle: unknown key" in result.stderr


def test_http_plugin_import_is_light():
    code = (
        "import himoe_http.plugin, himoe_http, sys; "
        "heavy = [m for m in ('httpx', 'httpcore', 'anyio', 'h11') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_http_plugin_end_to_end_through_the_engine(loopback, monkeypatch):
    monkeypatch.setenv("LOCAL_LLM_KEY", "sk-engine-test")
    config = {
        "himoe": {"budget_ms": 500},
        "plugins": {
            "himoe-http": {
                "experts": {
                    "local_llm": {
                        "kind": "openai-chat",
                        "url": loopback.url("/ok"),
                        "model": "llama-3-8b",
                        "tasks": ["chat:"],
                        "api_key_env": "LOCAL_LLM_KEY",
                        "price_per_1k_input": 1.0,
                    },
                    "stuck_llm": {
                        "kind": "openai-chat",
                        "url": loopback.url("/hang"),
                        "model": "x",
                        "tasks": ["stuck:"],
                    },
                }
            }
        },
    }
    with HiMoE(config=config, environ={"HIMOE_LOAD_PLUGINS": "himoe-http", "HIMOE_STRICT_PLUGINS": "1"}) as moe:
        # the first request imports httpx and connects: a generous budget for a busy machine
        response = moe.run_sync("chat: hello engine", budget_ms=60_000)
        assert response.value.as_text() == "you said: hello engine"
        assert loopback.records[-1]["headers"]["Authorization"] == "Bearer sk-engine-test"
        # A hanging endpoint: the engine answers with an error at its deadline, the
        # connection is closed.
        started = time.monotonic()
        with pytest.raises(Exception) as info:
            moe.run_sync("stuck: anyone?", budget_ms=200)
        # cut, not left hanging until the endpoint gives up by itself (a bound no busy machine reaches)
        assert time.monotonic() - started < loopback.cut_within_s
        assert "stuck_llm" in str(info.value) or "deadline" in str(info.value)
        gone = loopback.wait_for_disconnect()
        assert gone is not None and gone["time"] - loopback.records[-1]["time"] < loopback.cut_within_s


def test_http_plugin_follows_the_file_convention():
    """One class per .py file, the file named after it in snake_case; experts under experts/http/."""
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
        assert len(classes) <= 1, f"{path}: more than one class: {classes}"
        if classes:
            # snake_case of the class name; an acronym may stay one word (OpenAIChatExpert ->
            # openai_chat_expert, the name the brief gives).
            assert re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", path.stem), path
            assert path.stem.replace("_", "") == classes[0].lower(), (
                f"{path}: class {classes[0]} is not in a file named after it"
            )
        nested = [n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name not in classes]
        assert not nested, f"{path}: nested classes {nested}"
    experts = {p.stem for p in (PACKAGE / "experts" / "http").glob("*_expert.py")}
    assert experts == {"openai_chat_expert", "json_http_expert"}
    assert (PACKAGE / "base_models" / "http" / "http_caller.py").is_file()
