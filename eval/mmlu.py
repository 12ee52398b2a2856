"""MMLU: K-shot multiple choice; local models pick the likeliest letter, API models answer a letter.

Accuracy is reported micro (over all questions), macro (mean of subjects), per category
and per subject, as in the original paper's tables.
"""

from __future__ import annotations

import re
from typing import Any

from imitkit.eval import data
from imitkit.eval.data import LETTERS, Item
from imitkit.eval.metrics import grouped_accuracy
from imitkit.eval.tasks import Task, row

CHOICES = [" A", " B", " C", " D"]
API_INSTRUCTION = "Reply with the letter of the correct answer (A, B, C or D) only.\n\n"
_LETTER = re.compile(r"\b([ABCD])\b")


def format_question(item: Item, answer: str | None = None) -> str:
    options = "".join(f"{letter}. {choice}\n" for letter, choice in zip(LETTERS, item.meta["choices"]))
    return f"{item.text}\n{options}Answer:" + (f" {answer}\n\n" if answer else "")


def prompt(item: Item, shots: list[Item]) -> str:
    subject = item.meta["subject"].replace("_", " ")
    header = f"The following are multiple choice questions (with answers) about {subject}.\n\n"
    return header + "".join(format_question(s, s.target) for s in shots) + format_question(item)


def first_letter(text: str) -> str:
    """The answer letter in a constrained reply: a bare letter, 'B.', '(C)' or 'The answer is D'."""
    stripped = text.strip().lstrip("(*[ ")
    if stripped[:1].upper() in LETTERS and (len(stripped) == 1 or not stripped[1].isalpha()):
        return stripped[0].upper()
    match = _LETTER.search(text)
    return match.group(1) if match else ""


class MMLUTask(Task):
    name = "mmlu"
    default_shots = 5

    def load(self) -> list[Item]:
        self.path = data.resolve("mmlu", self.options.data.get("mmlu"))
        items, self.dev = data.load_mmlu(self.path)
        return items

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "data": str(self.path) if self.path else "hf:cais/mmlu"}

    def prompt(self, item: Item) -> str:
        return prompt(item, self.dev.get(item.meta["subject"], [])[: self.shots])

    def predict(self, model: Any, items: list[Item]) -> list[dict[str, Any]]:
        prompts = [self.prompt(i) for i in items]
        if hasattr(model, "choice_logprobs"):
            scores = model.choice_logprobs(prompts, CHOICES)
            return [{"output": LETTERS[max(range(4), key=s.__getitem__)], "logprobs": s} for s in scores]
        replies = model.generate([API_INSTRUCTION + p for p in prompts], max_new_tokens=5)
        return [{"output": first_letter(r), "reply": r} for r in replies]

    def score(self, items: list[Item], predictions: list[dict[str, Any]]) -> tuple[dict[str, float], list[dict]]:
        return score_outputs(items, [p["output"] for p in predictions], [self.prompt(i) for i in items])


def score_outputs(items: list[Item], letters: list[str], prompts: list[str] | None = None
                  ) -> tuple[dict[str, float], list[dict]]:
    correct = [first_letter(str(out)) == item.target for item, out in zip(items, letters)]
    subjects = grouped_accuracy(correct, [i.meta["subject"] for i in items])
    categories = grouped_accuracy(correct, [i.meta["category"] for i in items])
    metrics = {"accuracy": sum(correct) / len(correct), "accuracy_macro": sum(subjects.values()) / len(subjects)}
    metrics.update({f"category/{k}": v for k, v in categories.items()})
    metrics.update({f"subject/{k}": v for k, v in subjects.items()})
    rows = [row(item, prompts[n] if prompts else item.text, str(out), float(ok), subject=item.meta["subject"])
            for n, (item, out, ok) in enumerate(zip(items, letters, correct))]
    return metrics, rows
