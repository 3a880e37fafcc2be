import enum


class ValueKind(enum.Enum):
    """Which variant a Value holds."""

    TEXT = "text"
    PLAN = "plan"
    JSON = "json"
    EMBEDDING = "embedding"
    BYTES = "bytes"
    NONE = "none"
