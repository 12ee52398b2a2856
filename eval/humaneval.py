"""HumanEval: complete each function, run its tests in the sandbox, report pass@k.

As in the official harness, a completion is appended to the prompt and the program is
``prompt + completion + test + check(entry_point)``. API chat models reply with a
whole function; its code block is appended after the prompt, redefining the stub.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from imitkit.eval import data
from imitkit.eval.data import Item
from imitkit.eval.errors import EvalError
from imitkit.eval.metrics import mean_pass_at_k
from imitkit.eval.sandbox import Limits, run_many
from imitkit.eval.tasks import Task, row

# The Codex paper's stop sequences: the function is done when top-level code starts.
STOP = ["\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\nassert "]
CHAT_INSTRUCTION = ("Complete the following Python function. Reply with the complete function "
                    "(including the signature) in one ```python code block.\n\n")
_CODE_BLOCK = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.DOTALL)


def program(item: Item, completion: str) -> str:
    return f"{item.text}{completion}\n\n{item.meta['test']}\n\ncheck({item.meta['entry_point']})\n"


def completion_from_reply(reply: str, item: Item) -> str:
    """Turn a chat reply into a completion: a full function is appended after the prompt's stub."""
    match = _CODE_BLOCK.search(reply)
    code = match.group(1) if match else reply
    if re.search(rf"^\s*def\s+{re.escape(item.meta['entry_point'])}\s*\(", code, re.MULTILINE):
        return "    pass\n\n" + code
    return code


class HumanEvalTask(Task):
    name = "humaneval"
    chunk = 16

    def load(self) -> list[Item]:
        if self.options.samples > 1 and self.options.temperature <= 0:
            raise EvalError("--samples > 1 needs --temperature > 0 (greedy samples are identical)")
        self.path = data.resolve("humaneval", self.options.data.get("humaneval"))
        return data.load_humaneval(self.path)

    def settings(self) -> dict[str, Any]:
        o = self.options
        return {**super().settings(), "data": str(self.path) if self.path else "hf:openai_humaneval",
                "samples": o.samples, "temperature": o.temperature, "timeout": o.timeout}

    def predict(self, model: Any, items: list[Item]) -> list[dict[str, Any]]:
        n, budget = self.options.samples, self.options.max_new_tokens or 384
        repeated = [i for i in items for _ in range(n)]
        if hasattr(model, "choice_logprobs"):  # a local LM continues the prompt
            outs = model.generate([i.text for i in repeated], max_new_tokens=budget, stop=STOP,
                                  temperature=self.options.temperature)
        else:
            replies = model.chat([[{"role": "user", "content": CHAT_INSTRUCTION + i.text}] for i in repeated],
                                 max_new_tokens=max(budget, 768), temperature=self.options.temperature)
            outs = [completion_from_reply(r, i) for r, i in zip(replies, repeated)]
        return [{"completions": outs[k * n:(k + 1) * n]} for k in range(len(items))]

    def score(self, items: list[Item], predictions: list[dict[str, Any]]) -> tuple[dict[str, float], list[dict]]:
        pairs = [(i, c) for i, p in zip(items, predictions) for c in p["completions"]]
        limits = Limits(timeout_s=self.options.timeout)
        return score_completions(pairs, limits, self.options.workers)


def score_completions(pairs: list[tuple[Item, str]], limits: Limits = Limits(), workers: int | None = None,
                      on_done: Callable[[int], None] | None = None) -> tuple[dict[str, float], list[dict]]:
    """Run every (problem, completion) pair; pass@k over problems, one row per sample."""
    outcomes = run_many([program(i, c) for i, c in pairs], limits, workers, on_done)
    results: dict[str, list[bool]] = {}
    rows = []
    for (item, completion), outcome in zip(pairs, outcomes):
        results.setdefault(item.id, []).append(outcome.passed)
        rows.append(row(item, item.text, completion, float(outcome.passed), status=outcome.status,
                        reason=outcome.reason, seconds=round(outcome.seconds, 3),
                        network_isolated=outcome.network_isolated))
    return mean_pass_at_k(results), rows
