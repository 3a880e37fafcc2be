from __future__ import annotations

import builtins
from typing import Any

import attrs
import numpy as np

from .._errors import InvalidInput
from .input_kind import InputKind
from .input_limits import InputLimits

DEFAULT_LIMITS = InputLimits()


def check_unicode(text: str, what: str) -> None:
    """Refuse a str that cannot be written as UTF-8: a lone surrogate, which is what Python makes
    of invalid UTF-8 in argv or in a file read with errors='surrogateescape'. Such a text would
    pass every expert and then fail wherever it is encoded (the state file, stdout, a socket)."""
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"{what} is not valid Unicode: a lone surrogate {text[exc.start]!r} at position {exc.start} "
            "(invalid UTF-8, e.g. a Latin-1 byte, in the command line or file it came from); "
            "give UTF-8 text"
        ) from None


def _check_task(task: str | None, limits: InputLimits) -> str | None:
    if task is None:
        return None
    if not isinstance(task, str):
        raise InvalidInput(f"task hint must be a string like 'fr:tag', got {type(task).__name__}")
    task = task.strip()
    if not task:
        raise InvalidInput("task hint is empty; pass None for no hint, or a hint like 'fr:tag'")
    if len(task.splitlines()) > 1:
        raise InvalidInput(
            f"task hint must be one line, got a line break in {task[:60]!r}; "
            "put the request itself in the input, not in the hint"
        )
    if len(task) > limits.max_task_chars:
        raise InvalidInput(
            f"task hint must be one line of at most {limits.max_task_chars} characters, "
            f"got {len(task)} characters; raise limits.max_task_chars"
        )
    check_unicode(task, "task hint")
    return task


def as_feature_vector(values: Any, what: str, max_len: int, limit_key: str | None = None) -> np.ndarray:
    """Validate and copy `values` into a read-only, finite, 1-D float32 vector (at most `max_len`
    values; `limit_key` names the config key that raises the limit, for the message)."""
    try:
        array = np.asarray(values)
    except Exception as exc:  # numpy raises many types on ragged or odd input
        raise InvalidInput(f"{what} must be a 1-D sequence of numbers: {exc}") from None
    if array.dtype.kind not in "iuf":
        raise InvalidInput(
            f"{what} must hold real numbers (int or float), got dtype {array.dtype}; "
            "convert with numpy.asarray(x, dtype='float32')"
        )
    if array.ndim != 1:
        raise InvalidInput(f"{what} must be 1-D, got shape {array.shape}; flatten it with .ravel()")
    if array.size == 0:
        raise InvalidInput(f"{what} is empty; give at least one value")
    if array.size > max_len:
        raise InvalidInput(
            f"{what} has {array.size} values, more than the limit of {max_len}"
            + (f"; raise {limit_key}" if limit_key else "")
        )
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below, as an error
        vector = array.astype(np.float32, copy=True)
    if not np.isfinite(vector).all():
        bad = int(np.flatnonzero(~np.isfinite(vector))[0])
        raise InvalidInput(
            f"{what} must be finite: value at index {bad} is {array[bad].item()!r} "
            "(or overflows float32); clean NaN and infinities first"
        )
    vector.setflags(write=False)
    return vector


@attrs.frozen(eq=False)
class InputData:
    """The single input type every expert receives: text, bytes or a feature vector.

    Build it with `InputData.text(...)`, `InputData.bytes(...)` or `InputData.features(...)`;
    each validates its payload. `task` is an optional routing hint such as ``"fr:tag"``.
    """

    kind: InputKind
    payload: str | bytes | np.ndarray = attrs.field(repr=False)
    task: str | None = None

    @classmethod
    def text(cls, text: str, *, task: str | None = None, limits: InputLimits = DEFAULT_LIMITS) -> InputData:
        if not isinstance(text, str):
            raise InvalidInput(f"text input must be a str, got {type(text).__name__}")
        if len(text) > limits.max_text_chars:
            raise InvalidInput(
                f"text input has {len(text)} characters, more than the limit of "
                f"{limits.max_text_chars}; split it or raise limits.max_text_chars"
            )
        check_unicode(text, "text input")
        return cls(InputKind.TEXT, text, _check_task(task, limits))

    @classmethod
    def bytes(
        cls, data: bytes | bytearray | memoryview, *, task: str | None = None, limits: InputLimits = DEFAULT_LIMITS
    ) -> InputData:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidInput(f"bytes input must be bytes-like, got {type(data).__name__}")
        data = bytes(data)
        if len(data) > limits.max_bytes:
            raise InvalidInput(
                f"bytes input has {len(data)} bytes, more than the limit of {limits.max_bytes}; raise limits.max_bytes"
            )
        return cls(InputKind.BYTES, data, _check_task(task, limits))

    @classmethod
    def features(cls, values: Any, *, task: str | None = None, limits: InputLimits = DEFAULT_LIMITS) -> InputData:
        vector = as_feature_vector(values, "feature vector", limits.max_features, "limits.max_features")
        return cls(InputKind.FEATURES, vector, _check_task(task, limits))

    @classmethod
    def coerce(cls, x: Any, *, task: str | None = None, limits: InputLimits = DEFAULT_LIMITS) -> InputData:
        """Accept an InputData, a str, bytes or a numeric vector; anything else is InvalidInput."""
        if isinstance(x, InputData):  # built elsewhere, maybe under other limits: these ones apply
            x.check_limits(limits)
            return x if task is None else attrs.evolve(x, task=_check_task(task, limits))
        if isinstance(x, str):
            return cls.text(x, task=task, limits=limits)
        if isinstance(x, (bytes, bytearray, memoryview)):
            return cls.bytes(x, task=task, limits=limits)
        if isinstance(x, (np.ndarray, list, tuple)):
            return cls.features(x, task=task, limits=limits)
        raise InvalidInput(
            f"cannot use a {type(x).__name__} as input; give a str, bytes, a numeric vector or an InputData"
        )

    def check_limits(self, limits: InputLimits) -> None:
        """Raise InvalidInput, as the constructors do, when this input is larger than `limits`."""
        if self.kind is InputKind.TEXT:
            # nothing is copied but to check non-ASCII text encodes
            InputData.text(self.payload, limits=limits)  # type: ignore[arg-type]  # `kind` fixes the payload's type
        elif self.kind is InputKind.BYTES:
            if len(self.payload) > limits.max_bytes:
                InputData.bytes(self.payload, limits=limits)  # type: ignore[arg-type]  # `kind` fixes the payload's type
        elif self.payload.shape[0] > limits.max_features:  # type: ignore[union-attr]  # `kind` fixes the payload's type
            InputData.features(self.payload, limits=limits)
        if self.task is not None:
            _check_task(self.task, limits)

    def as_text(self) -> str | None:
        """The text, or None for another kind."""
        return self.payload if self.kind is InputKind.TEXT else None  # type: ignore[return-value]  # `kind` fixes the payload's type

    def as_bytes(self) -> builtins.bytes | None:  # `bytes` in this class is InputData.bytes
        """The bytes, or None for another kind."""
        return self.payload if self.kind is InputKind.BYTES else None  # type: ignore[return-value]  # `kind` fixes the payload's type

    def as_features(self) -> np.ndarray | None:
        """The feature vector, or None for another kind."""
        return self.payload if self.kind is InputKind.FEATURES else None  # type: ignore[return-value]  # `kind` fixes the payload's type

    def routing_key(self) -> str:
        """What `Expert.can_handle` receives: the task hint, else the text, else ''."""
        if self.task is not None:
            return self.task
        return self.payload if self.kind is InputKind.TEXT else ""  # type: ignore[return-value]  # `kind` fixes the payload's type

    def describe(self) -> str:
        """A short, log-safe description (never the full payload)."""
        if self.kind is InputKind.TEXT:
            size = f"{len(self.payload)} chars"
        elif self.kind is InputKind.BYTES:
            size = f"{len(self.payload)} bytes"
        else:
            size = f"{self.payload.shape[0]} features"  # type: ignore[union-attr]  # `kind` fixes the payload's type
        return f"{self.kind.value}({size})" + (f" task={self.task!r}" if self.task else "")
