"""Fixtures for tests/: `himoe_main` runs `himoe` in this process (main(argv) with captured
stdio), for tests that run it many times — a subprocess costs ~0.5 s of start-up, main() a few
milliseconds; `cli_plugins_dir` is a --plugins-dir with testing experts; `postgres_server` and
`postgres_url`: the PostgreSQL the state-store tests run against, found in this order:

1. `HIMOE_TEST_POSTGRES_URL`, when set (and only it: a server asked for by name is not replaced);
2. the project machines' server, postgresql://postgres@127.0.0.1:5432/test (trust auth);
3. a private cluster started from the installed binaries (`initdb`, `pg_ctl`) in a temporary
   folder on a free port, as a non-root user (`runuser -u nobody` when the tests run as root,
   since PostgreSQL refuses to run as root).

When none works the PostgreSQL tests skip, with the reason — or fail, when
`HIMOE_REQUIRE_POSTGRES=1` (set by .ci/run: CI must not pass without them). Each test gets its
own schema (the URL's search_path), dropped afterwards.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import attrs
import pytest

if str(Path(__file__).parent) not in sys.path:  # --import-mode=importlib leaves tests/ off sys.path
    sys.path.insert(0, str(Path(__file__).parent))
from private_cluster import PrivateCluster, with_schema  # noqa: E402

from himoe_core._cli.main import main

TEST_PLUGIN = textwrap.dedent("""
    from himoe_core import hookimpl
    from himoe_core.testing import EchoExpert, LearningExpert

    @hookimpl
    def register_experts(register):
        register(LearningExpert("fz_alpha", value="A", confidence=0.9))
        register(LearningExpert("fz_beta", value="B", confidence=0.6))
        register(EchoExpert("fz_echo"))
""")


@attrs.frozen
class CliResult:
    code: int
    out: str
    err: str

    def error_line(self) -> str:
        """The stderr of a failed command, checked to be one line without a traceback."""
        assert self.code in (1, 2), self
        assert "Traceback" not in self.err, self.err
        assert self.err.count("\n") == 1 and self.err.endswith("\n"), repr(self.err)
        return self.err.strip()


class _Stdout(io.TextIOWrapper):
    """A text stdout over bytes, strict UTF-8 like a real terminal's (a lone surrogate fails)."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)

    def text(self) -> str:
        self.flush()
        return self.buffer.getvalue().decode("utf-8")


def run_cli(argv: list[str], env: Mapping[str, str | None] | None = None) -> CliResult:
    """`himoe *argv` in this process; `env` sets (or, with None, removes) variables for the call."""
    env = env or {}
    saved = {key: os.environ.get(key) for key in env}
    out, err = _Stdout(), io.StringIO()
    handlers = list(logging.getLogger("himoe").handlers)
    try:
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse: --help, usage errors
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        # main() puts its stderr handler on the 'himoe' logger for the process; a test process
        # goes on to check what the library logs without the command
        logging.getLogger("himoe").handlers[:] = handlers
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return CliResult(code, out.text(), err.getvalue())


def plugin_folder(root: Path) -> Path:
    """A --plugins-dir holding the test plugin (owner-writable only, as himoe requires)."""
    folder = root / "fuzz_plugins"
    folder.mkdir(exist_ok=True)
    os.chmod(folder, 0o755)
    (folder / "fuzz_test_plugin.py").write_text(TEST_PLUGIN)
    return folder


@pytest.fixture
def himoe_main():
    """run_cli: `himoe_main(["run", "plan: x"], env={...})` → CliResult(code, out, err)."""
    return run_cli


@pytest.fixture
def cli_plugins_dir(tmp_path) -> Path:
    return plugin_folder(tmp_path)


# -- PostgreSQL ------------------------------------------------------------------------------------------------
LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _reachable(url: str) -> str | None:
    """None if a connection works, else why not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (the himoe[postgres] extra)"
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
        return None
    except psycopg.Error as exc:
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def find_postgres() -> tuple[str | None, str, PrivateCluster | None]:
    """(server URL or None, why — which one, or why none —, the private cluster to stop)."""
    asked = os.environ.get("HIMOE_TEST_POSTGRES_URL")
    if asked:
        why = _reachable(asked)
        return (
            (asked, "HIMOE_TEST_POSTGRES_URL", None)
            if why is None
            else (
                None,
                f"HIMOE_TEST_POSTGRES_URL cannot be reached: {why}",
                None,
            )
        )
    why_local = _reachable(LOCAL_URL)
    if why_local is None:
        return LOCAL_URL, "the local server", None
    try:
        cluster = PrivateCluster()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return None, f"no PostgreSQL: {LOCAL_URL} ({why_local}); private cluster ({exc})", None
    return cluster.url, "a private cluster", cluster


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server the tests may create schemas in."""
    url, why, cluster = find_postgres()
    if url is None:
        if os.environ.get("HIMOE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"HIMOE_REQUIRE_POSTGRES=1 and the PostgreSQL tests cannot run: {why}", pytrace=False)
        pytest.skip(f"PostgreSQL tests skipped: {why}")
    try:
        yield url
    finally:
        if cluster is not None:
            cluster.stop()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A URL whose tables live in a schema of this test's own, dropped afterwards."""
    import psycopg

    schema = f"himoe_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_schema(postgres_server, schema)
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def private_cluster() -> Iterator[PrivateCluster]:
    """A private cluster of this test's own, which the test may halt and start again (never the
    shared server on 5432: other tests use it)."""
    try:
        cluster = PrivateCluster()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot start a private PostgreSQL cluster here: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def private_postgres(private_cluster: PrivateCluster) -> str:
    """The URL of a private cluster of this test's own (the fallback `postgres_server` takes when no server runs)."""
    return private_cluster.url
