from .moe_error import MoeError


class StateError(MoeError):
    """The learned state cannot be used (corrupt, foreign, newer schema, unreachable); it is left
    as is.

    `transient` says whether the fault passes by itself: the store cannot be reached, stayed
    locked by another process, or a lock was lost with its connection — the same call may then
    succeed later. A store that is read-only, full or damaged stays so until someone fixes it.
    """

    def __init__(self, message: str = "", *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
