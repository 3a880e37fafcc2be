from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .._input import InputData
    from .encoded import Encoded


@runtime_checkable
class Encoder(Protocol):
    """Turns an InputData into the vector a learned router gates on.

    ``id`` names it in config; ``dim`` is the length of every vector it returns (None when
    the input decides it, as for feature vectors passed through). ``encode``
    raises EncodeError (never returns NaN) when it cannot encode the input.

    Optionally, ``dense`` (an int, 0 when absent) says how many trailing coordinates are dense
    features, such as a length, rather than sparse ones; the ``logistic`` router gives them a
    full-covariance block instead of a diagonal posterior.

    Optionally, ``async def encode_async(x, ctx) -> Encoded``: an encoder that calls a service
    (himoe-http's ``openai-embeddings``) provides it, and routers await it on a request's path,
    under the request's deadline, instead of calling ``encode`` (which the engine then uses only
    where there is no request: ``Router.decide``, offline evaluation).
    """

    # read-only properties, so that a frozen attrs class satisfies the protocol
    @property
    def id(self) -> str: ...

    @property
    def dim(self) -> int | None: ...

    def encode(self, x: InputData) -> Encoded:
        """The input's vector; EncodeError when this encoder cannot encode it."""
        ...
