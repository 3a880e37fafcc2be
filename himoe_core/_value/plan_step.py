from __future__ import annotations

from typing import Any

import attrs


def _description(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"PlanStep.description must be a non-empty string, got {value!r}")


@attrs.frozen
class PlanStep:
    """One step of a Plan."""

    description: str = attrs.field(validator=_description)
    done: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
