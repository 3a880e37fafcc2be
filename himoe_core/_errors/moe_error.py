from __future__ import annotations

from typing import Any


class MoeError(Exception):
    """Base of every error himoe raises on purpose.

    Catch this to handle any himoe failure; each subclass says what happened and, where there
    is one, what to do about it.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses build their message from typed arguments (DeadlineExceeded(budget_ms)), so
        # the default pickling, which calls cls(*args) with the finished message, would fail or
        # wrap it twice; an error crossing a process (multiprocessing, Ray) is rebuilt as it is.
        return _restore, (type(self), self.args, dict(self.__dict__))


def _restore(cls: type[MoeError], args: tuple[Any, ...], state: dict[str, Any]) -> MoeError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error
