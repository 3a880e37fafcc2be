class MoeError(Exception):
    """Base of every error himoe raises on purpose.

    Catch this to handle any himoe failure; each subclass says what happened and, where there
    is one, what to do about it.
    """
