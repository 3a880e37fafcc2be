"""Many experts (issue #22): config patterns go through indexes, and wide mixtures route the same
way as before the vectorised gate (golden picks at n = 10,000, recorded from the code before it)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from himoe_registry import ExpertId
from himoe_registry.ids import stable_id

from himoe_core import ConfigError, HiMoE
from himoe_core._router.gating import gate_with_policy
from himoe_core._router.gating_policy import GatingPolicy
from himoe_core.testing import ConstantExpert

N = 10_000
NAMES = [f"e{i:05d}" for i in range(N)]


def moe_over(experts, patterns, kind="static", himoe=None, **table):
    config = {"kind": kind, "experts": patterns, "k": 4, "aggregator": "best_score", **table}
    return HiMoE(
        experts=experts,
        entry_points=False,
        environ={},
        config={"himoe": himoe or {}, "routers": {"r": config}, "state": {"enabled": False}},
    )


class DomainExpert(ConstantExpert):
    def __init__(self, name: str, domain: str) -> None:
        super().__init__(name)
        self.domain = domain


# -- selection by pattern -------------------------------------------------------------------------
def test_patterns_select_by_name_prefix_domain_and_star_in_name_order():
    experts = [DomainExpert(f"lora-{i:02d}", "text") for i in range(5)] + [
        DomainExpert("calc", "math"),
        DomainExpert("lorax", "math"),
    ]
    cases = {
        ("lora-*",): [f"lora-{i:02d}" for i in range(5)],
        ("lora*",): [*(f"lora-{i:02d}" for i in range(5)), "lorax"],
        ("domain:math", "lora-03"): ["calc", "lora-03", "lorax"],
        ("calc", "calc", "domain:math"): ["calc", "lorax"],
        ("*",): sorted(e.name for e in experts),
    }
    for patterns, names in cases.items():
        moe = moe_over(experts, list(patterns))
        assert [ref.name for ref in moe.routers["r"].handle.experts] == names, patterns


def test_a_pattern_matching_nothing_names_it_and_a_few_installed_experts():
    experts = [ConstantExpert(f"x{i:03d}") for i in range(100)]
    with pytest.raises(ConfigError) as raised:
        moe_over(experts, ["x000", "nope-*"])
    message = str(raised.value)
    assert "routers.r.experts: 'nope-*' matches no installed expert" in message
    assert "x019, … and 80 more" in message and "x020" not in message


# -- determinism at n = 10,000 --------------------------------------------------------------------
def _digest(scores) -> str:
    ids = np.asarray([int(i) for i in scores.ids], dtype=np.uint64).tobytes()
    return hashlib.sha256(ids + np.asarray(scores.probs).tobytes()).hexdigest()[:16]


GOLDEN_GATES = [
    (GatingPolicy(), "e841001d5e294dcb", ["e03106", "e07561", "e06802", "e07233", "e07680"]),
    (
        GatingPolicy(temperature=0.05, epsilon=0.05, seed=3),
        "77b7115f1fec2bce",
        ["e07298", "e09520", "e03275", "e08070", "e09489"],
    ),
    (
        GatingPolicy(temperature=0.001, epsilon=0.02, seed=2**63 + 5),
        "1da6686f50fed8c5",
        ["e08275", "e04307", "e01408", "e08551", "e02132"],
    ),
]


@pytest.mark.parametrize(("policy", "digest", "best"), GOLDEN_GATES)
def test_the_gate_over_10000_ranks_and_weighs_as_before(policy, digest, best):
    ids = [ExpertId(stable_id(name)) for name in NAMES]
    logits = np.random.default_rng(7).integers(0, 5, N) / 4.0  # five values: ties everywhere
    scores = gate_with_policy(ids, logits, policy)
    name = dict(zip(ids, NAMES))
    assert [name[i] for i in scores.ids[:5]] == best
    assert _digest(scores) == digest


GOLDEN_PICKS = {
    "static": [["e05333", "e02151", "e00566", "e00589"]] * 12,
    "logistic": [
        ["e05502", "e09510", "e06298", "e07943"],
        ["e03228", "e01036", "e02759", "e06269"],
        ["e09926", "e05773", "e00133", "e04995"],
        ["e02415", "e05043", "e04346", "e09523"],
        ["e00917", "e03228", "e08066", "e02534"],
        ["e07957", "e05333", "e02151", "e00566"],
        ["e07183", "e08781", "e08428", "e04546"],
        ["e04935", "e08394", "e04528", "e02265"],
        ["e04220", "e02962", "e06599", "e02244"],
        ["e06390", "e07933", "e03421", "e00330"],
        ["e01140", "e07534", "e07500", "e03517"],
        ["e01242", "e07957", "e07047", "e05333"],
    ],
}


@pytest.mark.parametrize("kind", ["static", "logistic"])
def test_the_same_seed_picks_the_same_experts_among_10000_as_before(kind):
    table = {"gating": {"seed": 5}}
    if kind == "logistic":
        table["encoder"] = {"id": "hashing", "dim": 64}
    picks = []
    with moe_over([ConstantExpert(name) for name in NAMES], ["*"], kind, **table) as moe:
        for i in range(12):
            response = moe.run_sync(f"request number {i}")
            picks.append([p["expert"] for p in response.trace["attempts"][-1]["picks"]])
            moe.feedback(response.trace_id, reward=float(i % 2))
    assert picks == GOLDEN_PICKS[kind]


# -- declarative handling ---------------------------------------------------------------------------
class Declared:
    """An expert that declares its prefixes (and/or input kinds); `can_handle` only when given."""

    def __init__(self, name, handles=None, input_kinds=None, check=None):
        self.name = name
        self.handles = handles
        self.input_kinds = input_kinds
        self.asked = 0
        if check is not None:

            def can_handle(task):
                self.asked += 1
                return check(task)

            self.can_handle = can_handle

    async def infer(self, x, ctx):
        return self.name


def test_only_matching_declared_experts_are_considered_and_asked():
    groups = [Declared(f"d{i:04d}", handles=(f"p{i // 4}:",), check=lambda task: True) for i in range(2_000)]
    asked = ConstantExpert("asked-every-time")  # declares nothing: can_handle on every request
    with moe_over([*groups, asked], ["*"], k=8) as moe:
        response = moe.run_sync("  P17: hello")  # any case, leading spaces ignored
    gate = response.trace["attempts"][0]["gate"]
    assert sorted(g["expert"] for g in gate) == ["asked-every-time", "d0068", "d0069", "d0070", "d0071"]
    assert [e.asked for e in groups[68:72]] == [1, 1, 1, 1]  # the matches' can_handle has the last word
    assert sum(e.asked for e in groups) == 4


def test_can_handle_refines_a_declared_match_and_input_kinds_select_by_kind():
    import numpy as np

    from himoe_core import InputData, NoExpertSelected

    strict = Declared("strict", handles=("math",), check=lambda task: task.lower().startswith("math:"))
    vectors = Declared("vectors", input_kinds=("features",))  # no can_handle at all
    with moe_over([strict, vectors], ["*"]) as moe:
        assert moe.run_sync("math: 1+1").value.as_text() == "strict"
        with pytest.raises(NoExpertSelected):
            moe.run_sync("mathematics is fun")  # the prefix matches, can_handle says no
        assert moe.run_sync(InputData.features(np.ones(3))).value.as_text() == "vectors"


def test_a_declared_expert_whose_can_handle_raises_is_reported_as_before():
    from himoe_core import NoExpertSelected

    def explode(task):
        raise KeyError("unit table not loaded")

    broken = Declared("units", handles=("units:",), check=explode)
    with moe_over([broken, Declared("other", handles=("other:",))], ["*"]) as moe:
        with pytest.raises(NoExpertSelected) as raised:
            moe.run_sync("units: 3 m in ft")
    assert raised.value.failures == {"units": "can_handle raised KeyError: 'unit table not loaded'"}


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"handles": "math:"}, "handles must be a tuple of non-empty task prefixes"),
        ({"handles": ("math:", "")}, "handles must be a tuple of non-empty task prefixes"),
        ({"input_kinds": ("image",)}, "input_kinds must be a tuple of input kinds among 'text', 'bytes', 'features'"),
    ],
)
def test_a_malformed_declaration_is_a_plugin_error_naming_the_expert(attributes, message):
    from himoe_core import PluginError

    expert = Declared("bad", **attributes)
    with pytest.raises(PluginError, match=f"registered expert 'bad': {message}"):
        moe_over([expert], ["*"])


# -- bounded traces and decisions -----------------------------------------------------------------
def test_a_wide_gate_lists_the_top_m_and_the_picks_and_summarises_the_rest():
    from himoe_core.routing import decode_decision, encode_decision

    experts = [ConstantExpert(f"w{i:04d}") for i in range(1_000)]
    weights = {f"w{i:04d}": (i % 10) / 10 for i in range(1_000)}
    with moe_over(experts, ["*"], k=3, weights=weights, gating={"temperature": 0.5}) as moe:
        response = moe.run_sync("hello")
        decision = response.decision
    attempt = response.trace["attempts"][0]
    assert len(attempt["gate"]) == 16
    rest = attempt["gate_rest"]
    assert rest["count"] == 1_000 - 16
    listed = sum(g["prob"] for g in attempt["gate"])
    assert rest["mass"] == pytest.approx(1.0 - listed, abs=1e-5)
    assert 0.0 < rest["entropy"] <= np.log(984) + 1e-9
    assert decision.scores.count == 1_000 and decision.scores.truncated
    assert decision.scores.entropy() == pytest.approx(attempt["mix"]["entropy"], abs=1e-6)
    again = decode_decision(encode_decision(decision))
    assert (again.scores.count, again.scores.rest) == (decision.scores.count, decision.scores.rest)


def test_a_sampled_pick_outside_the_top_m_keeps_its_exact_propensity():
    experts = [ConstantExpert(f"s{i:03d}") for i in range(300)]
    with moe_over(
        experts,
        ["*"],
        "logistic",
        k=1,
        encoder={"id": "hashing", "dim": 16},
        gating={"seed": 3, "temperature": 50.0, "epsilon": 0.5},
        himoe={"trace_candidates": 4},
    ) as moe:
        seen_outside = 0
        for i in range(40):
            response = moe.run_sync(f"request {i}")
            decision = response.decision
            scores = decision.scores
            [pick] = decision.picks
            assert len(scores.ids) <= 5 and scores.count == 300
            assert decision.propensity == scores.prob(pick) > 0.0
            seen_outside += scores.rank(pick) >= 4
        assert seen_outside > 0  # a flat gate samples outside the top 4


# -- growing a running router -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["logistic", "linucb", "linear", "symbolic", "hybrid"])
def test_an_expert_added_to_a_running_router_starts_at_its_prior_and_the_others_keep_what_they_learned(kind):
    from himoe_core import Context, InputData
    from himoe_core.routing import ExpertRef

    table = {"gating": {"seed": 2}}
    if kind != "symbolic":
        table["encoder"] = {"id": "hashing", "dim": 32}
    if kind == "logistic":
        table["explore"] = "ucb"  # deterministic logits, to compare them
    first = [ConstantExpert(f"old{i}") for i in range(3)]
    late = ConstantExpert("late")
    x = InputData.text("request 99")
    with moe_over([*first, late], ["old*"], kind, k=1, **table) as moe:
        for i in range(30):
            response = moe.run_sync(f"request {i}")
            moe.feedback(response.trace_id, reward=1.0 if response.value.as_text() == "old1" else 0.0)
        router = moe.routers["r"].handle
        before = router.decide(x, Context.start(1000.0)).scores
        late_ref = ExpertRef(moe.host.experts.id_of("late"), late)
        router.add_experts([late_ref])
        router.add_experts([late_ref])  # twice: one expert, one new row
        after = router.decide(x, Context.start(1000.0)).scores
        assert len(router.experts) == 4 and late_ref.id in after.ids
        logit = dict(zip(after.ids, after.logits))
        assert {eid: logit[eid] for eid in before.ids} == dict(zip(before.ids, before.logits))
        response = moe.run_sync("request 100")  # it routes and learns with the new arm in place
        moe.feedback(response.trace_id, reward=1.0)


def test_explain_shows_the_listed_candidates_and_one_line_for_the_rest():
    from himoe_core._cli.routing_commands import explanation

    experts = [ConstantExpert(f"x{i:03d}") for i in range(100)]
    with moe_over(experts, ["*"], k=2, himoe={"trace_candidates": 5}) as moe:
        text = explanation(moe.run_sync("hello").trace)
    rows = [line for line in text.splitlines() if line.strip().startswith("x")]
    assert len(rows) == 5
    assert "… and 95 more candidates: gate mass 0.950, entropy 4.554 nats among them" in text
