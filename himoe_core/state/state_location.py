"""Where the state lives: an SQLite file (the default) or a PostgreSQL URL, and opening it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .._errors import ConfigError

if TYPE_CHECKING:
    from .state_store_trait import StateStore

URL_SCHEMES = ("postgresql", "postgres")


def default_state_path() -> Path:
    """$HIMOE_STATE, else $XDG_DATA_HOME/himoe/state.sqlite3 (~/.local/share/himoe/…)."""
    env = os.environ.get("HIMOE_STATE")
    if env:
        try:
            return Path(env).expanduser()
        except RuntimeError:  # ~someone who does not exist
            raise ConfigError(
                f"HIMOE_STATE: cannot expand {env!r}: no such user's home folder; give a path without ~user"
            ) from None
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "himoe" / "state.sqlite3"


def redact_url(url: str) -> str:
    """The URL without its password (user name, host, port, database and options stay)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = parts.username or ""
        return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
    except ValueError:  # unparseable: show only its scheme, never a credential it might hold
        return url.split(":", 1)[0] + "://…"


def check_state_url(url: Any, where: str) -> str:
    """A PostgreSQL URL as `[state] url` and HIMOE_STATE_URL take it, or ConfigError naming the
    bad value (without its password) and what to give instead."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"{where}: expected a PostgreSQL URL such as 'postgresql://user@host:5432/db', got {url!r}")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in URL_SCHEMES:
        raise ConfigError(
            f"{where}: {redact_url(url)!r} is not a PostgreSQL URL; give one such as "
            "'postgresql://user@host:5432/db', or leave it out to keep the state in an SQLite file ([state] path)"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(
            f"{where}: {redact_url(url)!r} is not a valid URL ({exc}); give one such as 'postgresql://user@host:5432/db'"
        ) from None
    return url


def state_target(state: Mapping[str, Any]) -> str | Path:
    """Where a checked `[state]` table puts the state: `url`, else `path`, else HIMOE_STATE_URL,
    else HIMOE_STATE, else the default file."""
    if state.get("url"):
        return str(state["url"])
    if state.get("path"):
        return str(state["path"])
    env = os.environ.get("HIMOE_STATE_URL")
    if env:
        return check_state_url(env, "HIMOE_STATE_URL")
    return default_state_path()


def is_url(target: str | os.PathLike[str]) -> bool:
    return isinstance(target, str) and target.split("://", 1)[0].lower() in URL_SCHEMES and "://" in target


def open_state_store(target: str | os.PathLike[str], **retention: Any) -> StateStore:
    """The store at `target`: a PostgreSQL URL, or an SQLite file path (':memory:' too)."""
    if is_url(target):
        from .postgres_state_store import PostgresStateStore

        return PostgresStateStore(str(target), **retention)
    from .sqlite_state_store import SqliteStateStore

    return SqliteStateStore(target, **retention)


def exists(target: str | os.PathLike[str]) -> bool:
    """Whether there may be saved state to restore: a URL always, a file once it exists."""
    return is_url(target) or str(target) == ":memory:" or Path(target).exists()
