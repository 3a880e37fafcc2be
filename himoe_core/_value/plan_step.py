import attrs


def _description(instance, attribute, value) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"PlanStep.description must be a non-empty string, got {value!r}")


@attrs.frozen
class PlanStep:
    """One step of a Plan."""

    description: str = attrs.field(validator=_description)
    done: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
