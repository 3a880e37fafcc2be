from .himoe import HiMoE
from .response import Response
from .trace_store import TraceStore

__all__ = ["HiMoE", "Response", "TraceStore"]
