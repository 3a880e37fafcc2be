from .adapters import convert, to_value
from .plan import Plan
from .plan_step import PlanStep
from .value import SCHEMA, Value
from .value_kind import ValueKind

__all__ = ["SCHEMA", "Plan", "PlanStep", "Value", "ValueKind", "convert", "to_value"]
