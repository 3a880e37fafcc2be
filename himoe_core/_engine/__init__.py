from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy_exports import lazy_exports

if TYPE_CHECKING:
    from .himoe import HiMoE
    from .response import Response
    from .trace_store import TraceStore

_EXPORTS = {
    "HiMoE": ".himoe",
    "Response": ".response",
    "TraceStore": ".trace_store",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["HiMoE", "Response", "TraceStore"]
