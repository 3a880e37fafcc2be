from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .._context import Context
from .._decision.decision import Decision
from .._errors import ConfigError
from .._input import InputData
from .._router.router_ref import RouterRef
from .._value import Value
from .orchestration_feedback import OrchestrationFeedback
from .route_rule import RouteRule


class RulesOrchestrator:
    """Routes by input kind and task prefix, first matching rule wins, else `default`.

    Never calls an expert: it names routers, and its synthesis returns the primary router's
    answer (shadow answers are kept with the trace, never returned).
    """

    kind = "rules"

    def __init__(
        self,
        *,
        routers: Mapping[str, RouterRef],
        rules: Sequence[RouteRule] = (),
        default: str | None = None,
        fallbacks: Sequence[str] = (),
        shadows: Sequence[str] = (),
        shadow_min_remaining_ms: float = 20.0,
        promote_shadows: bool = False,
        promotion_min_evidence: int = 50,
    ) -> None:
        if not routers:
            raise ConfigError("orchestrator: no router is configured")
        self.routers = dict(routers)
        self.default = default if default is not None else next(iter(self.routers))
        self.rules = tuple(rules)
        self.default_fallbacks = tuple(fallbacks)
        self.default_shadows = tuple(shadows)
        if (
            isinstance(shadow_min_remaining_ms, bool)
            or not isinstance(shadow_min_remaining_ms, (int, float))
            or not shadow_min_remaining_ms >= 0
        ):
            raise ConfigError(
                f"orchestrator.shadow_min_remaining_ms: expected a number >= 0 (milliseconds), "
                f"got {shadow_min_remaining_ms!r}"
            )
        self.shadow_min_remaining_ms = float(shadow_min_remaining_ms)
        for where, name in [
            ("orchestrator.default", self.default),
            *[("orchestrator.fallbacks", n) for n in self.default_fallbacks],
            *[("orchestrator.shadows", n) for n in self.default_shadows],
            *[
                (f"orchestrator.rules[{i}]", n)
                for i, r in enumerate(self.rules)
                for n in (r.router, *r.fallbacks, *r.shadows)
            ],
        ]:
            if name not in self.routers:
                raise ConfigError(
                    f"{where}: unknown router {name!r}; configured routers: {', '.join(sorted(self.routers))}"
                )
        if not isinstance(promote_shadows, bool):
            raise ConfigError(f"orchestrator.promote_shadows: expected true or false, got {promote_shadows!r}")
        if (
            isinstance(promotion_min_evidence, bool)
            or not isinstance(promotion_min_evidence, int)
            or promotion_min_evidence < 1
        ):
            raise ConfigError(
                f"orchestrator.promotion_min_evidence: expected an integer >= 1, got {promotion_min_evidence!r}"
            )
        self.promote_shadows = promote_shadows
        self.promotion_min_evidence = promotion_min_evidence
        self._lock = threading.Lock()
        self.shadow_wins: Counter[str] = Counter()
        self.served: Counter[str] = Counter()
        self.comparisons: Counter[tuple[str, str]] = Counter()
        self.wins: Counter[tuple[str, str]] = Counter()
        self.promotions: list[dict[str, Any]] = []

    def _rule(self, x: InputData) -> RouteRule | None:
        return next((rule for rule in self.rules if rule.matches(x)), None)

    def choose_router(self, x: InputData, ctx: Context) -> RouterRef:
        """The first matching rule's router, else the default."""
        rule = self._rule(x)
        return self.routers[rule.router if rule else self.default]

    def fallbacks(self, x: InputData, ctx: Context, primary: RouterRef) -> list[RouterRef]:
        """The matching rule's fallbacks (else the orchestrator's), primary excluded."""
        rule = self._rule(x)
        names = rule.fallbacks if rule and rule.fallbacks else self.default_fallbacks
        return [self.routers[n] for n in names if n != primary.id]

    def shadows(self, x: InputData, ctx: Context, primary: RouterRef) -> list[RouterRef]:
        """The matching rule's shadows (else the orchestrator's), when enough budget is left."""
        rule = self._rule(x)
        names = rule.shadows if rule and rule.shadows else self.default_shadows
        if not names or ctx.remaining_ms() <= self.shadow_min_remaining_ms:
            return []
        return [self.routers[n] for n in names if n != primary.id]

    def synthesize(self, served: Decision) -> Value:
        """The serving router's answer."""
        assert served.value is not None, "a served decision has an answer"
        return served.value

    def feedback(self, fb: OrchestrationFeedback) -> None:
        """Count served requests and scored shadow comparisons; promote a shadow when enabled."""
        with self._lock:
            self.served[fb.primary_router] += 1
            if fb.shadow_better:
                self.shadow_wins[fb.shadow_better] += 1
            for shadow in fb.scored:
                pair = (fb.primary_router, shadow)
                self.comparisons[pair] += 1
                self.wins[pair] += shadow == fb.shadow_better
                if self.promote_shadows and self._significant(pair):
                    self._promote(*pair)

    def _significant(self, pair: tuple[str, str]) -> bool:
        """The shadow won significantly more than half of at least `promotion_min_evidence`
        scored comparisons (one-sided sign test, normal approximation, p < 0.05)."""
        n, wins = self.comparisons[pair], self.wins[pair]
        return n >= self.promotion_min_evidence and (wins - n / 2) / math.sqrt(n / 4) > 1.645

    def _promote(self, primary: str, shadow: str) -> None:
        """Swap roles wherever `shadow` shadows `primary`; evidence for the pair starts over."""
        rules = []
        for rule in self.rules:
            if rule.router == primary and shadow in rule.shadows:
                shadows = tuple(primary if s == shadow else s for s in rule.shadows)
                rule = attrs.evolve(rule, router=shadow, shadows=shadows)
            rules.append(rule)
        self.rules = tuple(rules)
        if self.default == primary and shadow in self.default_shadows:
            self.default = shadow
            self.default_shadows = tuple(primary if s == shadow else s for s in self.default_shadows)
        self.promotions.append(
            {
                "promoted": shadow,
                "demoted": primary,
                "comparisons": self.comparisons[(primary, shadow)],
                "wins": self.wins[(primary, shadow)],
            }
        )
        del self.comparisons[(primary, shadow)], self.wins[(primary, shadow)]

    @classmethod
    def from_config(cls, routers: Mapping[str, RouterRef], **table: Any) -> RulesOrchestrator:
        from .._config.config_parsing import parse_rules

        rules = parse_rules(table.pop("rules", []))
        return cls(routers=routers, rules=rules, **table)
