"""`himoe serve` on the command line: its imports stay out of the other commands, its mistakes
are one line."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

HIMOE = Path(sys.executable).parent / "himoe"
SERVE_MODULES = ("himoe_serve", "hypercorn", "prometheus_client", "opentelemetry")


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HIMOE_")}
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, env={**clean, **(env or {})})


def test_list_experts_imports_nothing_of_the_server():
    code = textwrap.dedent(f"""
        import sys
        from himoe_core._cli.main import main
        assert main(["list-experts", "--json"]) == 0
        assert main(["serve", "--help"]) == 0 if False else True
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {SERVE_MODULES!r})
        print("LOADED", loaded, file=sys.stderr)
    """)
    result = run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stderr


def test_without_the_distribution_serve_says_what_to_install():
    code = textwrap.dedent("""
        import sys
        class Missing:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "himoe_serve":
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        sys.meta_path.insert(0, Missing())
        from himoe_core._cli.main import main
        sys.exit(main(["serve", "--port", "0"]))
    """)
    result = run(sys.executable, "-c", code)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("himoe: error: `himoe serve` needs the himoe-serve distribution")
    assert "pip install 'himoe[serve]'" in line


def test_a_public_address_without_keys_is_refused(tmp_path):
    result = run(str(HIMOE), "serve", "--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("himoe: error: serve.host: '0.0.0.0' is reachable from other machines and no API key")


def test_a_bad_serve_table_is_one_line_naming_the_key(tmp_path):
    config = tmp_path / "himoe.toml"
    config.write_text("[serve]\nprot = 8000\n")
    result = run(str(HIMOE), "serve", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "himoe: error: serve.prot: unknown key; known keys here: "
        "allow_public_without_keys, body_timeout_s, host, keys_file, max_body_bytes, max_in_flight, "
        "otel, otel_exporter, port"
    ]
    config.write_text("[serve]\nbody_timeout_s = 0\n")
    result = run(str(HIMOE), "serve", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["himoe: error: serve.body_timeout_s: expected a number >= 0.001, got 0"]
    bad_port = run(str(HIMOE), "serve", "--port", "99999")
    assert bad_port.returncode == 2 and "expected a TCP port 0..65535, got '99999'" in bad_port.stderr


def test_keys_file_and_environment_keys(tmp_path):
    from himoe_serve import ApiKeys

    from himoe_core import ConfigError

    keys_file = tmp_path / "keys"
    keys_file.write_text("# one key a line\nsk-from-file\n\n")
    keys = ApiKeys.load(str(keys_file), {"HIMOE_API_KEYS": "sk-a, sk-b"})
    assert len(keys) == 3 and "sk-" not in repr(keys)
    assert keys.accepts(b"Bearer sk-from-file") and keys.accepts(b"bearer sk-b")
    assert not keys.accepts(b"Bearer sk-c") and not keys.accepts(b"sk-a") and not keys.accepts(None)
    empty = tmp_path / "empty"
    empty.write_text("# nothing\n")
    try:
        ApiKeys.load(str(empty), {})
    except ConfigError as exc:
        assert "holds no key" in str(exc)
    else:
        raise AssertionError("an empty keys file was accepted")


def test_serving_publicly_without_keys_is_said_once_in_the_log():
    process = subprocess.Popen(
        [str(HIMOE), "serve", "--host", "0.0.0.0", "--port", "0", "--allow-public-without-keys"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("HIMOE_")},
    )
    try:
        line = process.stdout.readline()  # once listening, every start-up warning is written
        assert line.startswith("himoe serve: listening on http://0.0.0.0:"), line
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=120)
    warnings = [line for line in stderr.splitlines() if "without API keys" in line]
    assert len(warnings) == 1, stderr  # the server's log line, not also the CLI's one-line echo
    assert " WARNING himoe.serve: himoe serve: listening on 0.0.0.0 without API keys" in warnings[0]
