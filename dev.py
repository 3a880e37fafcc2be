#!/usr/bin/env python3
"""Set up the himoe workspace and run its two jobs.

    python3 dev.py demo    route real requests through the installed first-party plugins
    python3 dev.py test    run the linters, then every test: core, registry and each plugin
    python3 dev.py lint    ruff (lint and format check) over the whole repository; mypy --strict
                           over himoe_core and himoe_registry, mypy over serve/ and the plugins
    python3 dev.py dist    build an sdist and a wheel of every distribution into dist/

The first run creates `.tools/` (a private copy of uv, pinned) and `.venv/` (the core, the
registry and every plugin under plugins/, editable, exactly as pinned by uv.lock). Later runs
reuse them and only re-sync when uv.lock or a pyproject.toml changed. Needs only python3.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".tools"
VENV = ROOT / ".venv"
UV_VERSION = "0.13.9"
STAMP = VENV / ".himoe-sync-stamp"
# The libraries others import and type-check against: `mypy --strict`, clean. The service and
# the plugins, applications of them, get mypy's default checks.
STRICT_TYPED = ["himoe_core", "registry/himoe_registry"]


def basic_typed() -> list[str]:
    return [
        "serve/himoe_serve",
        *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("plugins/*/himoe_*") if p.is_dir()),
    ]


def _bin(env: Path, name: str) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin") / name


def _say(message: str) -> None:
    print(f"[dev] {message}", file=sys.stderr, flush=True)


def _run(*cmd: object, **kwargs) -> None:
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def _fingerprint() -> str:
    digest = hashlib.sha256()
    files = [ROOT / "uv.lock", *(folder / "pyproject.toml" for folder in projects())]
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes() if path.exists() else b"-")
    return digest.hexdigest()


def ensure_environment() -> None:
    """Create or refresh .venv from uv.lock; cheap when nothing changed."""
    fingerprint = _fingerprint()
    if STAMP.exists() and STAMP.read_text() == fingerprint and _bin(VENV, "himoe").exists():
        return
    uv = _bin(TOOLS, "uv")
    if not uv.exists():
        _say(f"installing uv {UV_VERSION} into .tools/ (once)")
        venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
        _run(
            _bin(TOOLS, "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"uv=={UV_VERSION}"
        )
    _say("syncing .venv with uv.lock (core, registry, every plugin, test tools)")
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", UV_PROJECT_ENVIRONMENT=str(VENV))
    _run(uv, "sync", "--all-packages", "--locked", "--python", sys.executable, cwd=ROOT, env=env)
    STAMP.write_text(fingerprint)


def projects() -> list[Path]:
    """The folder of every distribution this repository publishes: the root (the core) and each
    member of its uv workspace (the registry, the plugins, the service)."""
    members = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["uv"]["workspace"]["members"]
    return [ROOT, *sorted({p.parent for pattern in members for p in ROOT.glob(f"{pattern}/pyproject.toml")})]


def build_distributions(python: Path, outdir: Path, folders: list[Path] | None = None, *, sdist: bool = True) -> None:
    """Build each folder's sdist and wheel (the wheel from the sdist, as an installer would) into
    `outdir` with `python -m build`, without build isolation: hatchling comes from the environment
    of `python` (.venv has it, pinned by uv.lock), so building needs no package index."""
    for folder in folders or projects():
        kinds = [] if sdist else ["--wheel"]  # none: the sdist, then the wheel built from it
        _run(python, "-m", "build", "--quiet", "--no-isolation", *kinds, "--outdir", outdir, folder)


def main(argv: list[str]) -> int:
    jobs = {"demo": _demo, "test": _test, "lint": _lint, "dist": _dist}
    if len(argv) < 1 or argv[0] not in jobs:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        ensure_environment()
    except subprocess.CalledProcessError as exc:
        _say(f"environment setup failed ({exc}); see the output above")
        return 1
    return jobs[argv[0]](argv[1:])


def _demo(extra: list[str]) -> int:
    return subprocess.call([str(_bin(VENV, "himoe")), "demo", *extra], cwd=ROOT)


def _dist(extra: list[str]) -> int:
    if extra:
        print("dev.py dist takes no arguments", file=sys.stderr)
        return 2
    dist = ROOT / "dist"
    dist.mkdir(exist_ok=True)
    for stale in [*dist.glob("himoe*.whl"), *dist.glob("himoe*.tar.gz")]:
        stale.unlink()  # an earlier version's files would let an install pick the wrong one
    try:
        build_distributions(_bin(VENV, "python"), dist)
    except subprocess.CalledProcessError as exc:
        _say(f"build failed ({exc}); see the output above")
        return 1
    for path in sorted(dist.iterdir()):
        print(path.relative_to(ROOT))
    return 0


def _lint(extra: list[str]) -> int:
    if extra:
        print("dev.py lint takes no arguments", file=sys.stderr)
        return 2
    checks = [
        ("ruff check", [_bin(VENV, "ruff"), "check", "--quiet", "."]),
        ("ruff format --check", [_bin(VENV, "ruff"), "format", "--check", "--quiet", "."]),
        # config in pyproject.toml's [tool.mypy]; a cache per strictness, as the two would evict each other
        (
            "mypy --strict",
            [_bin(VENV, "mypy"), "--strict", "--no-error-summary", "--cache-dir", ".mypy_cache/strict", *STRICT_TYPED],
        ),
        ("mypy", [_bin(VENV, "mypy"), "--no-error-summary", "--cache-dir", ".mypy_cache/basic", *basic_typed()]),
    ]
    failed = [name for name, cmd in checks if subprocess.call([str(c) for c in cmd], cwd=ROOT) != 0]
    if failed:
        ruff_fix = " (ruff fixes its own: .venv/bin/ruff check --fix . && .venv/bin/ruff format .)"
        _say(f"lint failed: {', '.join(failed)}{ruff_fix if any(n.startswith('ruff') for n in failed) else ''}")
        return 1
    return 0


def _test(extra: list[str]) -> int:
    # The linters run first on a whole run; a run narrowed to some tests skips them.
    if not extra and _lint([]) != 0:
        return 1
    return subprocess.call([str(_bin(VENV, "python")), "-m", "pytest", *extra], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
