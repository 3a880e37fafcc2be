from .moe_error import MoeError


class NoExpertSelected(MoeError):
    """No expert can handle the request, or none gave a usable answer.

    `failures` maps each expert that was tried to a one-line cause, so the message always says
    which experts failed and why.
    """

    def __init__(self, reason: str, failures: dict[str, str] | None = None) -> None:
        self.reason = reason
        self.failures = dict(failures or {})
        message = f"no expert selected: {reason}"
        if self.failures:
            causes = "; ".join(f"{name}: {cause}" for name, cause in sorted(self.failures.items()))
            message += f" [{causes}]"
        super().__init__(message)
