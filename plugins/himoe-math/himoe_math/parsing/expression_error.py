from __future__ import annotations


class ExpressionError(ValueError):
    """A math request the restricted parser refuses; the message says what and what is allowed.

    Raised by the parser (in the caller's process and again in the worker process) instead of
    ``himoe_core.InvalidInput`` so that worker processes need not import himoe_core; the expert
    turns it into ``InvalidInput``.
    """
