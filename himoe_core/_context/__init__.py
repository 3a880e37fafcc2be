from .cancel_token import CancelToken
from .context import Context, current_clock, new_trace_id
from .memory import Memory

__all__ = ["CancelToken", "Context", "Memory", "current_clock", "new_trace_id"]
