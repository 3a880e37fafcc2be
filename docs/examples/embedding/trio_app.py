"""Embed himoe in a trio application: `async with HiMoE.open(...)`.

    python docs/examples/embedding/trio_app.py

`HiMoE.open` builds the engine inside your trio run and gives it a nursery of yours for shadow
routers, so `await moe.run(...)` costs no thread hop. Shown here: concurrent requests, an expert
cut at the deadline, a shadow router that runs after the response left, and cancellation.

The experts are defined here so that the example runs anywhere (no network, no model).
"""

from __future__ import annotations

import trio

from himoe_core import Cancelled, CancelToken, Context, ExpertAux, ExpertOut, HiMoE, InputData, Value

FACTS = {"capital of france": "Paris", "capital of italy": "Rome", "largest planet": "Jupiter"}


class Librarian:
    """Looks the question up in a small table: fast, fairly sure."""

    name = "librarian"

    def can_handle(self, task: str) -> bool:
        return task.startswith("ask:")

    async def infer(self, x: InputData, ctx: Context) -> ExpertOut:
        await trio.sleep(0.01)  # an async expert must await, never block
        answer = FACTS.get(x.as_text().removeprefix("ask:").strip().lower())
        return ExpertOut(Value.text(answer) if answer else Value.none(), ExpertAux(confidence=0.8))


class Oracle:
    """A slow, very sure expert (think: a remote model behind a network call)."""

    name = "oracle"
    cost_units = 1.0

    def can_handle(self, task: str) -> bool:
        return task.startswith("ask:")

    async def infer(self, x: InputData, ctx: Context) -> ExpertOut:
        await trio.sleep(0.2)
        question = x.as_text().removeprefix("ask:").strip().lower()
        return ExpertOut(Value.text(FACTS.get(question, "42")), ExpertAux(confidence=0.99, cost_units=1.0))


CONFIG = {
    "himoe": {"budget_ms": 1000},
    "routers": {
        "quick": {"experts": ["librarian"]},
        "both": {"experts": ["librarian", "oracle"], "k": 2, "aggregator": "confidence"},
        "slow": {"experts": ["oracle"]},
    },
    # Every request goes to `quick`; `both` runs in shadow when 20+ ms of budget are left.
    "orchestrator": {"default": "quick", "shadows": ["both"]},
    "state": {"path": ":memory:"},
}


def calls(response) -> str:
    attempt = response.trace["attempts"][-1]
    return ", ".join(f"{c['expert']} {c['status']}" for c in attempt["calls"])


async def finished_shadows(moe: HiMoE, trace_id: str, timeout_s: float = 2.0) -> list[dict]:
    """The shadow records of a trace, once there are some (shadows finish after the response)."""
    with trio.move_on_after(timeout_s):
        while not moe.traces.get(trace_id).get("shadows"):
            await trio.sleep(0.01)
    return moe.traces.get(trace_id).get("shadows", [])


async def main() -> None:
    async with HiMoE.open(experts=[Librarian(), Oracle()], entry_points=False, config=CONFIG) as moe:
        # 1. Concurrent requests, each with a 100 ms deadline: the oracle (200 ms) is cut, the
        #    librarian's answer is returned. Three requests take ~100 ms in all, not 300.
        questions = ["capital of France", "capital of Italy", "largest planet"]
        answers: dict[str, str] = {}

        async def ask(question: str) -> None:
            response = await moe.run(f"ask: {question}", router="both", budget_ms=100)
            answers[question] = f"{response.value.as_text()} ({calls(response)})"

        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            for question in questions:
                nursery.start_soon(ask, question)
        for question in questions:
            print(f"{question} -> {answers[question]}")
        print(f"3 requests in {1000 * (trio.current_time() - started):.0f} ms")

        # 2. A shadow router: the response leaves as soon as `quick` answered; `both` keeps
        #    running in the nursery of HiMoE.open and its answer lands in the trace.
        response = await moe.run("ask: capital of Italy")
        print(f"primary -> {response.value.as_text()} from router {response.router} in {response.elapsed_ms:.0f} ms")
        for shadow in await finished_shadows(moe, response.trace_id):
            print(f"shadow {shadow['router']} -> {shadow['value']['data']} ({shadow['status']})")

        # 3. Cancellation from another task (or another thread): the request stops at once.
        token = CancelToken()

        async def cancel_soon() -> None:
            await trio.sleep(0.05)
            token.cancel("the user closed the tab")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel_soon)
            try:
                await moe.run("ask: largest planet", router="slow", cancel=token)
            except Cancelled as exc:
                print(f"cancelled -> {exc}")

        # trio's own cancel scopes work as well: the caller stops waiting at 50 ms.
        with trio.move_on_after(0.05) as scope:
            await moe.run("ask: largest planet", router="slow")
        print(f"move_on_after -> cancelled_caught={scope.cancelled_caught}")


if __name__ == "__main__":
    trio.run(main)
