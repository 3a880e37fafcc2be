from __future__ import annotations

import attrs

from .router_trait import Router


@attrs.frozen
class RouterRef:
    """A router and the id it is known by in config and traces."""

    id: str
    handle: Router = attrs.field(eq=False, repr=False)
