from __future__ import annotations

import builtins
import math
import numbers
from collections.abc import Mapping
from typing import Any, TypeAlias

import attrs
import numpy as np

from .._errors import InvalidInput
from .input_kind import InputKind
from .input_limits import InputLimits

DEFAULT_LIMITS = InputLimits()
MAX_CONTEXT_ITEMS = 64
"""How many fields a request's context may carry: metadata, not a second payload."""

ContextItems: TypeAlias = tuple[tuple[str, "str | float"], ...]
_NO_CONTEXT: ContextItems = ()


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


def _check_context(context: Any, limits: InputLimits) -> ContextItems:
    """The caller's context as (key, value) pairs sorted by key: a category is a str (a bool
    becomes "true"/"false"), a number an int or float (kept as a float). Keys and categories are
    one line of at most `max_task_chars` characters, like the task hint."""
    if context is None or (isinstance(context, (Mapping, tuple)) and not context):
        return _NO_CONTEXT
    if isinstance(context, tuple) and all(isinstance(item, tuple) and len(item) == 2 for item in context):
        context = dict(context)  # the form InputData keeps, given again
    if not isinstance(context, Mapping):
        raise InvalidInput(
            f"context must be a mapping of names to categories (str) or numbers, got {type(context).__name__}; "
            "e.g. {'tenant': 'acme', 'subject': 'anatomy', 'priority': 2}"
        )
    if len(context) > MAX_CONTEXT_ITEMS:
        raise InvalidInput(
            f"context has {len(context)} fields, more than {MAX_CONTEXT_ITEMS}; keep the ones routing needs"
        )
    items = []
    for key, value in context.items():
        if not isinstance(key, str) or not key.strip() or "=" in key or len(key.splitlines()) > 1:
            raise InvalidInput(
                f"context key {key!r} must be a non-empty one-line string without '=' (the key=value separator)"
            )
        if len(key) > limits.max_task_chars:
            raise InvalidInput(
                f"context key {key[:60]!r} has {len(key)} characters, more than {limits.max_task_chars}; "
                "raise limits.max_task_chars"
            )
        check_unicode(key, f"context key {key[:60]!r}")
        if isinstance(value, bool):
            value = "true" if value else "false"
        if isinstance(value, str):
            if len(value.splitlines()) > 1 or len(value) > limits.max_task_chars:
                raise InvalidInput(
                    f"context[{key!r}] must be one line of at most {limits.max_task_chars} characters, "
                    f"got {value[:60]!r} ({len(value)} characters); raise limits.max_task_chars"
                )
            check_unicode(value, f"context[{key!r}]")
        elif isinstance(value, numbers.Real) and math.isfinite(value):
            value = float(value)
        else:
            raise InvalidInput(
                f"context[{key!r}] must be a category (str or bool) or a finite number, got {value!r}; "
                "pass an identifier such as a tenant id as a string"
            )
        items.append((key, value))
    return tuple(sorted(items))


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

    `context` is the caller's metadata about the request — tenant, product area, subject,
    language, a priority — that routing may use beside the payload: categories (str, or a bool)
    and numbers. It is kept as (key, value) pairs sorted by key (`context_dict()` gives a dict);
    encoders turn it into namespaced features (`key=value`), it is recorded with the decision,
    and experts may read it.
    """

    kind: InputKind
    payload: str | bytes | np.ndarray = attrs.field(repr=False)
    task: str | None = None
    context: ContextItems = _NO_CONTEXT

    @classmethod
    def text(
        cls, text: str, *, task: str | None = None, context: Any = None, limits: InputLimits = DEFAULT_LIMITS
    ) -> InputData:
        if not isinstance(text, str):
            raise InvalidInput(f"text input must be a str, got {type(text).__name__}")
        if len(text) > limits.max_text_chars:
            raise InvalidInput(
                f"text input has {len(text)} characters, more than the limit of "
                f"{limits.max_text_chars}; split it or raise limits.max_text_chars"
            )
        check_unicode(text, "text input")
        return cls(InputKind.TEXT, text, _check_task(task, limits), _check_context(context, limits))

    @classmethod
    def bytes(
        cls,
        data: bytes | bytearray | memoryview,
        *,
        task: str | None = None,
        context: Any = None,
        limits: InputLimits = DEFAULT_LIMITS,
    ) -> InputData:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidInput(f"bytes input must be bytes-like, got {type(data).__name__}")
        data = bytes(data)
        if len(data) > limits.max_bytes:
            raise InvalidInput(
                f"bytes input has {len(data)} bytes, more than the limit of {limits.max_bytes}; raise limits.max_bytes"
            )
        return cls(InputKind.BYTES, data, _check_task(task, limits), _check_context(context, limits))

    @classmethod
    def features(
        cls, values: Any, *, task: str | None = None, context: Any = None, limits: InputLimits = DEFAULT_LIMITS
    ) -> InputData:
        vector = as_feature_vector(values, "feature vector", limits.max_features, "limits.max_features")
        return cls(InputKind.FEATURES, vector, _check_task(task, limits), _check_context(context, limits))

    @classmethod
    def coerce(
        cls, x: Any, *, task: str | None = None, context: Any = None, limits: InputLimits = DEFAULT_LIMITS
    ) -> InputData:
        """Accept an InputData, a str, bytes or a numeric vector; anything else is InvalidInput.
        A `task` or `context` given here replaces the InputData's own."""
        if isinstance(x, InputData):  # built elsewhere, maybe under other limits: these ones apply
            x.check_limits(limits)
            data: InputData = x
            if task is not None:
                data = attrs.evolve(data, task=_check_task(task, limits))
            if context is not None:
                data = attrs.evolve(data, context=_check_context(context, limits))
            return data
        if isinstance(x, str):
            return cls.text(x, task=task, context=context, limits=limits)
        if isinstance(x, (bytes, bytearray, memoryview)):
            return cls.bytes(x, task=task, context=context, limits=limits)
        if isinstance(x, (np.ndarray, list, tuple)):
            return cls.features(x, task=task, context=context, limits=limits)
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
        if self.context:
            _check_context(self.context, limits)

    def context_dict(self) -> dict[str, str | float]:
        """The context as a new dict (empty without one)."""
        return dict(self.context)

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
        return (
            f"{self.kind.value}({size})"
            + (f" task={self.task!r}" if self.task else "")
            + (f" context={len(self.context)} fields" if self.context else "")
        )
