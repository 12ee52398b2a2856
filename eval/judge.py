"""LLM judge: the model's answer against the teacher's, pairwise, in both orders, ties allowed.

Prompt and verdict format follow MT-bench's pairwise judge ([[A]], [[B]], [[C]]). A
verdict counts as a win or loss only when both orders agree; otherwise it is a tie,
which cancels the judge's position bias (FastChat's rule).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from imitkit.eval import data
from imitkit.eval.data import Item
from imitkit.eval.errors import EvalError
from imitkit.eval.models import load_model, parse_spec
from imitkit.eval.tasks import Task, row

SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI "
    "assistants to the user question displayed below. Choose the assistant that follows the user's "
    "instructions and answers the user's question better, considering helpfulness, relevance, accuracy, "
    "depth and level of detail. Avoid any position bias: the order of the responses must not influence "
    "your decision. Do not let the length of the responses or the assistants' names influence you. Be as "
    "objective as possible. After a short explanation, output your final verdict strictly in this format: "
    '"[[A]]" if assistant A is better, "[[B]]" if assistant B is better, and "[[C]]" for a tie.'
)
TEMPLATE = (
    "[User Question]\n{question}\n\n[The Start of Assistant A's Answer]\n{a}\n[The End of Assistant A's Answer]"
    "\n\n[The Start of Assistant B's Answer]\n{b}\n[The End of Assistant B's Answer]"
)
_VERDICT = re.compile(r"\[\[([ABC])\]\]")


def parse_verdict(text: str) -> str | None:
    found = _VERDICT.findall(text)
    return found[-1] if found else None


def combine(model_first: str | None, teacher_first: str | None) -> str:
    """The model's result over both orders: win or loss only when the orders agree."""
    one = {"A": "win", "B": "loss", "C": "tie"}.get(model_first or "")
    two = {"A": "loss", "B": "win", "C": "tie"}.get(teacher_first or "")
    if one is None or two is None:
        return "invalid"
    return one if one == two else "tie"


class JudgeTask(Task):
    name = "judge"
    chunk = 16

    def load(self) -> list[Item]:
        if not self.options.judge:
            raise EvalError("the judge task needs --judge openai:MODEL[@BASE_URL]")
        if parse_spec(self.options.judge).kind != "openai":
            raise EvalError("--judge must be an OpenAI-compatible endpoint: openai:MODEL[@BASE_URL]")
        if not self.options.heldout:
            raise EvalError("the judge task needs --snapshot NAME (made with --eval-fraction) or --heldout FILE")
        self.path = Path(self.options.heldout)
        self.judge = None
        return data.load_heldout(self.path)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "data": str(self.path), "judge": self.options.judge}

    def predict(self, model: Any, items: list[Item]) -> list[dict[str, Any]]:
        if self.judge is None:
            self.judge = load_model(self.options.judge)
        answers = model.chat([i.meta["messages"][:-1] for i in items],
                             max_new_tokens=self.options.max_new_tokens or 512)
        requests = []
        for item, answer in zip(items, answers):
            for a, b in ((answer, item.target), (item.target, answer)):
                requests.append([{"role": "system", "content": SYSTEM},
                                 {"role": "user", "content": TEMPLATE.format(question=item.text, a=a, b=b)}])
        replies = self.judge.chat(requests, max_new_tokens=512)
        return [{"output": answer, "model_first": parse_verdict(replies[2 * k]),
                 "teacher_first": parse_verdict(replies[2 * k + 1])} for k, answer in enumerate(answers)]

    def score(self, items: list[Item], predictions: list[dict[str, Any]]) -> tuple[dict[str, float], list[dict]]:
        results = [combine(p["model_first"], p["teacher_first"]) for p in predictions]
        valid = [r for r in results if r != "invalid"]
        metrics: dict[str, float] = {"invalid": float(len(results) - len(valid))}
        if valid:
            n = len(valid)
            wins, ties, losses = (valid.count(k) for k in ("win", "tie", "loss"))
            consistent = sum(1 for p in predictions
                             if combine(p["model_first"], p["teacher_first"]) in ("win", "loss")
                             or (p["model_first"] == "C" and p["teacher_first"] == "C"))
            metrics.update({"win_rate": wins / n, "tie_rate": ties / n, "loss_rate": losses / n,
                            "score": (wins + ties / 2) / n, "position_consistency": consistent / n})
        rows = [row(item, item.text, p["output"], {"win": 1.0, "tie": 0.5, "loss": 0.0}.get(r), result=r,
                    model_first=p["model_first"], teacher_first=p["teacher_first"])
                for item, p, r in zip(items, predictions, results)]
        return metrics, rows
