"""One real Ray head node for this plugin's tests (Ray takes ~15-30 s to start here), on loopback,
with its temporary folder and auth token under pytest's tmp dir; every process it started is
gone at teardown (checked)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

RAY = Path(sys.executable).with_name("ray")
START_WAIT_S = 240.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ray_environment(base: Path) -> dict[str, str]:
    """Token auth on, its token in `base`; no usage statistics sent anywhere."""
    token = base / "auth_token"
    if not token.exists():
        token.write_text(secrets.token_hex(32))
        token.chmod(0o600)
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token), "RAY_USAGE_STATS_ENABLED": "0"}


def processes_mentioning(text: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines()[1:] if text in line and "ps -eo" not in line]


class RayHead:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.temp_dir = base / "t"
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {**os.environ, **ray_environment(base), "HOME": str(base)}
        command = [
            str(RAY),
            "start",
            "--head",
            "--block",
            "--disable-usage-stats",
            "--node-ip-address=127.0.0.1",
            f"--port={self.port}",
            "--num-cpus=2",
            "--num-gpus=0",
            f"--temp-dir={self.temp_dir}",
            "--include-dashboard=false",
            f"--object-store-memory={200 * 1024 * 1024}",
            f"--ray-client-server-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--dashboard-agent-grpc-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
            f"--metrics-export-port={free_port()}",
            f"--node-manager-port={free_port()}",
            f"--object-manager-port={free_port()}",
        ]
        self.log = open(base / "ray-start.log", "wb")
        self.process = subprocess.Popen(
            command, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_WAIT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ray start --head exited: {(self.base / 'ray-start.log').read_text()[-2000:]}")
            done = subprocess.run(
                [str(RAY), "status", f"--address={self.address}"], env=self.env, capture_output=True, text=True
            )
            if done.returncode == 0:
                return
            time.sleep(1.0)
        raise RuntimeError(f"ray start --head was not ready after {START_WAIT_S:g} s")

    def stop(self) -> None:
        # Ours alone: the session `ray start --block` leads, never `ray stop` (it stops every Ray
        # of the machine's user).
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        deadline = time.monotonic() + 60
        while processes_mentioning(str(self.temp_dir)) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = processes_mentioning(str(self.temp_dir))
        for line in left:  # a straggler of ours (its command line names our temp dir)
            try:
                os.kill(int(line.split()[0]), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        self.log.close()
        assert not left, "Ray processes left behind:\n" + "\n".join(left)


@pytest.fixture(scope="package")  # stopped once this plugin's tests are done
def ray_head(tmp_path_factory):
    base = tmp_path_factory.mktemp("ray")
    head = RayHead(base)
    saved = {key: os.environ.get(key) for key in ray_environment(base)}
    os.environ.update(ray_environment(base))  # this process joins the head as a driver
    try:
        yield head
    finally:
        if "ray" in sys.modules:
            import ray

            ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        head.stop()
