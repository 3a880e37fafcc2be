from __future__ import annotations

from typing import Any

import attrs


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"InputLimits.{attribute.name} must be a positive integer, got {value!r}")


@attrs.frozen
class InputLimits:
    """Size limits on what a request may carry — anything larger is refused with InvalidInput —
    and on what an expert may answer: an output larger than `max_output_bytes` (see
    `Value.size_bytes`) fails that expert's call, so that one runaway expert cannot fill the
    memory, the traces and the state file.

    The defaults suit an embedded framework fed by end users; raise them in config
    (`[limits]`) when your experts need more.
    """

    max_text_chars: int = attrs.field(default=100_000, validator=_positive)
    max_bytes: int = attrs.field(default=16 * 1024 * 1024, validator=_positive)
    max_features: int = attrs.field(default=65_536, validator=_positive)
    max_task_chars: int = attrs.field(default=200, validator=_positive)
    max_output_bytes: int = attrs.field(default=16 * 1024 * 1024, validator=_positive)
