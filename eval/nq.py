"""NQ-open: short answers, K-shot, exact match and token F1 against any gold answer."""

from __future__ import annotations

from typing import Any

from imitkit.eval import data
from imitkit.eval.data import Item
from imitkit.eval.errors import EvalDataError
from imitkit.eval.metrics import exact_match, normalize_answer, token_f1
from imitkit.eval.tasks import Task, row

HEADER = "Answer each question with a short answer (a few words).\n\n"
STOP = ["\n"]


def prompt(question: str, shots: list[tuple[str, str]]) -> str:
    examples = "".join(f"Q: {q}?\nA: {a}\n\n" for q, a in shots)
    return f"{HEADER}{examples}Q: {question}?\nA:"


class NQTask(Task):
    name = "nq"
    default_shots = 5

    def load(self) -> list[Item]:
        self.path = data.resolve("nq", self.options.data.get("nq"))
        items = data.load_nq(self.path)
        self.examples, items = data.nq_shots(self.path, self.shots, items)
        return items

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "data": str(self.path) if self.path else "hf:nq_open"}

    def predict(self, model: Any, items: list[Item]) -> list[dict[str, Any]]:
        prompts = [prompt(i.text, self.examples) for i in items]
        outputs = model.generate(prompts, max_new_tokens=self.options.max_new_tokens or 32, stop=STOP)
        return [{"output": o.strip()} for o in outputs]

    def score(self, items: list[Item], predictions: list[dict[str, Any]]) -> tuple[dict[str, float], list[dict]]:
        return score_outputs(items, [p["output"] for p in predictions],
                             [prompt(i.text, self.examples) for i in items])


def score_outputs(items: list[Item], outputs: list[str], prompts: list[str] | None = None
                  ) -> tuple[dict[str, float], list[dict]]:
    rows, em_total, f1_total = [], 0.0, 0.0
    for n, (item, output) in enumerate(zip(items, outputs)):
        em, f1 = exact_match(output, item.target), token_f1(output, item.target)
        em_total += em
        f1_total += f1
        rows.append(row(item, prompts[n] if prompts else item.text, output, em, f1=f1))
    count = len(items)
    return {"exact_match": em_total / count, "f1": f1_total / count}, rows


def match_predictions(items: list[Item], records: list[dict[str, Any]]) -> tuple[list[Item], list[str]]:
    """Pair prediction records with items by ``id`` (line number) or by ``question`` text."""
    by_id = {i.id: i for i in items}
    by_question = {normalize_answer(i.text): i for i in items}
    chosen, outputs = [], []
    for n, record in enumerate(records, 1):
        if "id" in record:
            item = by_id.get(str(record["id"]))
        elif "question" in record:
            item = by_question.get(normalize_answer(str(record["question"])))
        else:
            raise EvalDataError(f"predictions line {n}: needs an 'id' (0-based line number) or a 'question'")
        if item is None:
            key = record.get("id", record.get("question"))
            raise EvalDataError(f"predictions line {n}: {key!r} is not an item of the NQ file")
        chosen.append(item)
        outputs.append(str(record.get("output", "")))
    return chosen, outputs
