"""Embed himoe in a plain (synchronous) script.

    python docs/examples/embedding/sync_script.py

`HiMoE(...)` loads plugins and builds routers; `run_sync` answers one request and blocks until
the answer is ready (the engine runs on a private trio loop in a background thread, started on
first use and stopped by `close()` / the end of the `with` block).

The two experts are defined here so that the example runs anywhere; drop `experts=` and
`entry_points=False` to route to every installed plugin instead.
"""

from __future__ import annotations

from himoe_core import Context, ExpertAux, ExpertOut, HiMoE, InputData, NoExpertSelected, Value


class Shouter:
    """Upper-cases the text after 'shout:'."""

    name = "shouter"
    domain = "text"

    def can_handle(self, task: str) -> bool:  # the task hint, else the text
        return task.startswith("shout:")

    async def infer(self, x: InputData, ctx: Context) -> ExpertOut:  # async: runs on the trio loop
        text = x.as_text().removeprefix("shout:").strip()
        return ExpertOut(Value.text(text.upper() + "!"), ExpertAux(confidence=0.9))


class WordCounter:
    """Counts the words after 'count:'."""

    name = "word_counter"
    domain = "text"
    cost_units = 0.5  # declared cost of one call, for budget guards

    def can_handle(self, task: str) -> bool:
        return task.startswith("count:")

    def infer(self, x: InputData, ctx: Context) -> dict:  # plain def: runs in a worker thread
        return {"words": len(x.as_text().removeprefix("count:").split())}  # any to_value() input


CONFIG = {
    "himoe": {"budget_ms": 500},
    "routers": {"main": {"experts": ["*"], "k": 1}},
    "state": {"path": ":memory:"},  # learned state in memory: this example leaves no file behind
}


def main() -> None:
    with HiMoE(experts=[Shouter(), WordCounter()], entry_points=False, config=CONFIG) as moe:
        for text in ["shout: hello world", "count: one two three four"]:
            response = moe.run_sync(text)
            call = response.trace["attempts"][-1]["calls"][0]
            value = response.value  # a Value: .kind, .data, .as_text(), .as_json(), .render()
            print(
                f"{text!r} -> {value.kind.value} {value.data!r} "
                f"(router {response.router}, expert {call['expert']}, {response.elapsed_ms:.1f} ms)"
            )

        # A task hint routes a request whose text says nothing about it.
        print("hint ->", moe.run_sync("quiet please", task="shout:").value.as_text())

        # Nobody handles this: one clear error naming the router and its experts.
        try:
            moe.run_sync("translate: bonjour")
        except NoExpertSelected as exc:
            print("error ->", exc)

        # Tell the router how good an answer was (the static router records it; learning
        # router kinds learn from it).
        summary = moe.feedback(response.trace_id, reward=1.0)
        print("feedback ->", summary["router"], summary["rewards"])


if __name__ == "__main__":
    main()
