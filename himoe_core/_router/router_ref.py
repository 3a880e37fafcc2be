from __future__ import annotations

import attrs

from .router_trait import Router


@attrs.frozen
class RouterRef:
    """A router and the id it is known by in config and traces.

    `guarded`: whether the engine must hold the router to the request's deadline from outside.
    A BaseRouter cuts its own fan-out at the deadline and returns what finished; a router
    written from scratch is not trusted to, and is cut `ROUTER_GRACE_S` after the deadline.
    """

    id: str
    handle: Router = attrs.field(eq=False, repr=False)
    guarded: bool = True
