"""himoe as an OpenAI-compatible routing service (`himoe serve`); see docs/serving.md.

- `serve_forever(moe_options, settings)`: what `himoe serve` runs (engine, server, signals);
- `build_app(moe, settings)` and `serve(app, shutdown=...)`: the same inside your own
  `HiMoE.open` block and trio run;
- `RoutingApp`, the ASGI application; `ServeSettings`, the `[serve]` table; `ApiKeys`.
"""

from .api_keys import ApiKeys
from .routing_app import RoutingApp
from .serve_settings import ServeSettings
from .server import build_app, serve, serve_forever

__all__ = ["ApiKeys", "RoutingApp", "ServeSettings", "build_app", "serve", "serve_forever"]
