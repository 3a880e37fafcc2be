import enum


class InputKind(enum.Enum):
    """Which variant an InputData holds."""

    TEXT = "text"
    BYTES = "bytes"
    FEATURES = "features"
