"""The Router protocol is the whole contract: a router written against it alone, registered by a
plugin, routes end to end and learns from feedback; feedback trains from the Decision, never from
the trace dict and never by encoding the input again."""

from __future__ import annotations

import trio

from himoe_core import Decision, HiMoE, Value, hookimpl
from himoe_core.routing import CallOutcome, CallStatus, GateScores, Router, stable_id
from himoe_core.testing import ConstantExpert


class CountingRouter:
    """Calls the one expert with the best mean reward so far (ties: the first listed), with no
    help from BaseRouter: only what the Router protocol documents."""

    kind = "counting"
    model_version = 0

    def __init__(self, *, id, experts, **ignored):
        self.id = id
        self.experts = list(experts)
        self.reward_sum = {ref.id: 0.0 for ref in self.experts}
        self.pulls = {ref.id: 0 for ref in self.experts}
        self.learned_from: list[Decision] = []

    def _means(self):
        return [self.reward_sum[ref.id] / self.pulls[ref.id] if self.pulls[ref.id] else 0.5 for ref in self.experts]

    def decide(self, x, ctx, k=None):
        means = self._means()
        best = max(range(len(means)), key=lambda i: (means[i], -i))
        ids = [ref.id for ref in self.experts]
        scores = GateScores(ids, means, [1.0 if i == best else 0.0 for i in range(len(ids))])
        return Decision(ctx.trace_id, self.id, x, scores, picks=[ids[best]], model_version=self.model_version)

    async def route(self, x, ctx, k=None):
        decision = self.decide(x, ctx, k)
        ref = next(ref for ref in self.experts if ref.id == decision.picks[0])
        out = await ref.handle.infer(x, ctx)
        outcome = CallOutcome(ref.id, ref.name, CallStatus.OK, out)
        return Decision(
            ctx.trace_id,
            self.id,
            x,
            decision.scores,
            decision.picks,
            outcomes=[outcome],
            value=out.value,
            weights=[(ref.id, 1.0)],
            model_version=self.model_version,
        )

    def learn(self, decision, feedback):
        self.learned_from.append(decision)
        for expert_id, reward in feedback.rewards:
            self.reward_sum[expert_id] += reward
            self.pulls[expert_id] += 1

    def state_dict(self):
        return {"kind": self.kind, "pulls": {str(k): v for k, v in self.pulls.items()}}

    def load_state_dict(self, state):
        self.pulls.update({stable_id(ref.name): state["pulls"][str(ref.id)] for ref in self.experts})


class CountingRouterPlugin:
    @hookimpl
    def register_routers(self, register):
        register("counting", CountingRouter)


def test_a_router_written_against_the_protocol_alone_routes_and_learns():
    experts = [ConstantExpert("first", value="from first"), ConstantExpert("second", value="from second")]
    config = {"routers": {"r": {"kind": "counting", "experts": ["first", "second"]}}, "state": {"enabled": False}}
    with HiMoE(config=config, experts=experts, plugins=[CountingRouterPlugin()], entry_points=False, environ={}) as moe:
        router = moe.routers["r"].handle
        assert isinstance(router, Router)
        response = moe.run_sync("anything")
        assert response.value == Value.text("from first")
        assert response.router == "r"
        assert response.trace["attempts"][0]["picks"][0]["expert"] == "first"

        summary = moe.feedback(response.trace_id, reward=0.0)  # the first expert was wrong
        assert summary["rewards"] == {"first": 0.0}
        learned = router.learned_from[0]  # rebuilt from the kept trace, equal to the one served
        assert (learned.trace_id, learned.picks, learned.outcomes, learned.value) == (
            response.trace_id,
            response.decision.picks,
            response.decision.outcomes,
            response.decision.value,
        )
        assert learned.input.as_text() == "anything"

        assert moe.run_sync("anything").value == Value.text("from second")  # it learned


def test_decide_picks_without_calling_and_its_decision_takes_feedback():
    experts = [ConstantExpert("first"), ConstantExpert("second")]
    config = {"routers": {"r": {"kind": "counting", "experts": ["first", "second"]}}, "state": {"enabled": False}}
    moe = HiMoE(config=config, experts=experts, plugins=[CountingRouterPlugin()], entry_points=False, environ={})

    async def main():
        return await moe.decide("anything")

    decision = trio.run(main)
    assert decision.picks == (stable_id("first"),)
    assert decision.outcomes == ()
    assert experts[0].calls == 0 and experts[1].calls == 0
    moe.feedback(decision.trace_id, reward=1.0)
    assert moe.routers["r"].handle.pulls[stable_id("first")] == 1


class CountingEncoder:
    """The hashing encoder, counting its calls."""

    id = "counting_hashing"
    dense = 0

    def __init__(self):
        from himoe_core.routing import HashingEncoder

        self.inner = HashingEncoder(dim=64)
        self.calls = 0

    def encode(self, x):
        self.calls += 1
        return self.inner.encode(x)


class EncoderPlugin:
    def __init__(self, encoder):
        self.encoder = encoder

    @hookimpl
    def register_encoders(self, register):
        register(self.encoder)


def _logistic_moe(tmp_path, encoder):
    config = {
        "routers": {"r": {"kind": "logistic", "experts": ["a", "b"], "encoder": "counting_hashing"}},
        "state": {"path": str(tmp_path / "state.sqlite3")},
    }
    return HiMoE(
        config=config,
        experts=[ConstantExpert("a"), ConstantExpert("b")],
        plugins=[EncoderPlugin(encoder)],
        entry_points=False,
        environ={},
    )


def test_feedback_learns_from_the_decision_without_the_trace_or_encoding_again(tmp_path):
    encoder = CountingEncoder()
    with _logistic_moe(tmp_path, encoder) as moe:
        response = moe.run_sync("a question about rivers")
        assert encoder.calls == 1  # encoded once per request
        moe.traces._traces.clear()  # the user-facing trace is gone: learning does not need it
        moe.feedback(response.trace_id, reward=1.0)
        assert encoder.calls == 1
        assert moe.routers["r"].handle.updates == 1
        trace_id = moe.run_sync("another question").trace_id

    # Another process (a new engine on the same state file): the decision comes from the store.
    other_encoder = CountingEncoder()
    with _logistic_moe(tmp_path, other_encoder) as other:
        other.feedback(trace_id, reward=0.0)
        assert other_encoder.calls == 0
        assert other.routers["r"].handle.model_version == 2
