"""The pluggy markers of the `himoe` project: decorate hook implementations with `hookimpl`."""

import pluggy

PROJECT = "himoe"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
