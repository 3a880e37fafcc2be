import enum


class CallStatus(enum.Enum):
    """How one expert call ended."""

    OK = "ok"
    FAILED = "failed"  # raised, or returned something invalid
    TIMED_OUT = "timed_out"  # still running at the deadline, cancelled
    DROPPED = "dropped"  # never started: budget or deadline could not cover it
    CANCELLED = "cancelled"  # the request's CancelToken fired
