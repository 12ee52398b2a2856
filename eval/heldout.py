"""Held-out imitation: teacher-forced loss on the teacher's answers, and style next to the teacher's.

Items come from the snapshot's eval split (``<registry>/snapshots/NAME/eval.parquet``)
or ``--heldout FILE``. Loss needs the model's logits, so API models get style only.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from imitkit.eval import data
from imitkit.eval.data import Item
from imitkit.eval.errors import EvalError
from imitkit.eval.style import style_stats
from imitkit.eval.tasks import Task, row


class HeldoutTask(Task):
    name = "heldout"
    chunk = 16

    def load(self) -> list[Item]:
        if not self.options.heldout:
            raise EvalError("heldout needs --snapshot NAME (made with --eval-fraction) or --heldout FILE")
        self.path = Path(self.options.heldout)
        return data.load_heldout(self.path)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "data": str(self.path)}

    def predict(self, model: Any, items: list[Item]) -> list[dict[str, Any]]:
        contexts = [i.meta["messages"][:-1] for i in items]
        answers = model.chat(contexts, max_new_tokens=self.options.max_new_tokens or 256)
        if not hasattr(model, "assistant_nll"):
            return [{"output": a} for a in answers]
        # Loss over every assistant turn: all of them are the teacher's answers.
        nll = model.assistant_nll([i.meta["messages"] for i in items])
        return [{"output": a, "nll": s, "tokens": t} for a, (s, t) in zip(answers, nll)]

    def score(self, items: list[Item], predictions: list[dict[str, Any]]) -> tuple[dict[str, float], list[dict]]:
        metrics: dict[str, float] = {}
        tokens = sum(p.get("tokens", 0) for p in predictions)
        if tokens:
            loss = sum(p["nll"] for p in predictions) / tokens
            metrics.update({"loss": loss, "perplexity": math.exp(loss), "assistant_tokens": float(tokens)})
        model_style = style_stats([p["output"] for p in predictions])
        teacher_style = style_stats([i.target for i in items])
        metrics.update({f"style/model/{k}": v for k, v in model_style.items()})
        metrics.update({f"style/teacher/{k}": v for k, v in teacher_style.items()})
        if teacher_style.get("words"):
            metrics["style/length_ratio"] = model_style["words"] / teacher_style["words"]
        rows = []
        for item, p in zip(items, predictions):
            item_loss = p["nll"] / p["tokens"] if p.get("tokens") else None
            rows.append(row(item, item.text, p["output"], item_loss, tokens=p.get("tokens")))
        return metrics, rows
