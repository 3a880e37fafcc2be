from __future__ import annotations

import threading
from collections import Counter
from typing import Any, Mapping, Sequence

from ..aggregator.aggregated_out import AggregatedOut
from ..aggregator.mix_meta import MixMeta
from ..context import Context
from ..errors import ConfigError
from ..input import InputData
from ..router.router_ref import RouterRef
from ..value import Value
from .orchestration_feedback import OrchestrationFeedback
from .route_rule import RouteRule


class RulesOrchestrator:
    """Routes by input kind and task prefix, first matching rule wins, else `default`.

    Never calls an expert: it names routers, and its synthesis returns the primary router's
    answer (shadow answers are kept with the trace, never returned).
    """

    kind = "rules"

    def __init__(self, *, routers: Mapping[str, RouterRef], rules: Sequence[RouteRule] = (),
                 default: str | None = None, fallbacks: Sequence[str] = (), shadows: Sequence[str] = (),
                 shadow_min_remaining_ms: float = 20.0) -> None:
        if not routers:
            raise ConfigError("orchestrator: no router is configured")
        self.routers = dict(routers)
        self.default = default if default is not None else next(iter(self.routers))
        self.rules = tuple(rules)
        self.default_fallbacks = tuple(fallbacks)
        self.default_shadows = tuple(shadows)
        self.shadow_min_remaining_ms = float(shadow_min_remaining_ms)
        for where, name in [("orchestrator.default", self.default),
                            *[("orchestrator.fallbacks", n) for n in self.default_fallbacks],
                            *[("orchestrator.shadows", n) for n in self.default_shadows],
                            *[(f"orchestrator.rules[{i}]", n) for i, r in enumerate(self.rules)
                              for n in (r.router, *r.fallbacks, *r.shadows)]]:
            if name not in self.routers:
                raise ConfigError(f"{where}: unknown router {name!r}; configured routers: {', '.join(sorted(self.routers))}")
        self._lock = threading.Lock()
        self.shadow_wins: Counter[str] = Counter()
        self.served: Counter[str] = Counter()

    def _rule(self, x: InputData) -> RouteRule | None:
        return next((rule for rule in self.rules if rule.matches(x)), None)

    def choose_router(self, x: InputData, ctx: Context) -> RouterRef:
        rule = self._rule(x)
        return self.routers[rule.router if rule else self.default]

    def fallbacks(self, x: InputData, ctx: Context, primary: RouterRef) -> list[RouterRef]:
        rule = self._rule(x)
        names = rule.fallbacks if rule and rule.fallbacks else self.default_fallbacks
        return [self.routers[n] for n in names if n != primary.id]

    def shadows(self, x: InputData, ctx: Context, primary: RouterRef) -> list[RouterRef]:
        if ctx.remaining_ms() <= self.shadow_min_remaining_ms:
            return []
        rule = self._rule(x)
        names = rule.shadows if rule and rule.shadows else self.default_shadows
        return [self.routers[n] for n in names if n != primary.id]

    def synthesize(self, primary: tuple[RouterRef, AggregatedOut, MixMeta],
                   shadows: list[tuple[RouterRef, AggregatedOut, MixMeta]] | None) -> Value:
        return primary[1].value

    def feedback(self, fb: OrchestrationFeedback) -> None:
        with self._lock:
            self.served[fb.primary_router] += 1
            if fb.shadow_better:
                self.shadow_wins[fb.shadow_better] += 1

    @classmethod
    def from_config(cls, routers: Mapping[str, RouterRef], **table: Any) -> RulesOrchestrator:
        from ..config.config_parsing import parse_rules

        rules = parse_rules(table.pop("rules", []))
        return cls(routers=routers, rules=rules, **table)
