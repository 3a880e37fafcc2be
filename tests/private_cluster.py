"""A throw-away PostgreSQL cluster for tests and the learner's fault run: `initdb` into a
temporary folder, started on a free port, as a non-root user (`runuser -u nobody` when run as
root, since PostgreSQL refuses to run as root). Never the shared server: tests may halt it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(candidates[-1]) if candidates else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateCluster:
    """A throw-away PostgreSQL cluster: initdb into a temporary folder, started on a free port."""

    def __init__(self) -> None:
        initdb, pg_ctl = postgres_bin("initdb"), postgres_bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise RuntimeError("no initdb/pg_ctl installed")
        self.folder = Path(tempfile.mkdtemp(prefix="himoe-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.pg_ctl = pg_ctl
        self.prefix: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            runuser = shutil.which("runuser")
            if not runuser:
                raise RuntimeError("running as root, and no runuser to start PostgreSQL as another user")
            self.prefix = [runuser, "-u", "nobody", "--"]
            os.chmod(self.folder, 0o755)
            shutil.chown(self.folder, "nobody")
        self._run([initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"])
        self.start()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start the server (again, after `halt`), on the same port and data."""
        self._run(
            [
                self.pg_ctl,
                "-D",
                str(self.data),
                "-w",
                "-l",
                str(self.folder / "log"),
                "-o",
                f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            ]
        )

    def halt(self) -> None:
        """Stop the server at once (as a crash would), keeping its data for `start`."""
        self._run([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"])

    def _run(self, argv: list[str]) -> None:
        done = subprocess.run(self.prefix + argv, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{Path(argv[0]).name} failed: {(done.stderr or done.stdout).strip()[-500:]}")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():  # not halted by the test
                self.halt()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def with_schema(url: str, schema: str) -> str:
    """The URL with `schema` first on its search_path (libpq's `options`)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query)))
