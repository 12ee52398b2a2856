"""The task base class: its ``run`` owns the loop, resume, progress, timing and counting.

Leaf tasks (nq, mmlu, humaneval, heldout, judge) implement ``load``, ``predict`` for a
chunk of items and ``score``. Predictions are appended to a cache file as each chunk
finishes, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from imitkit.eval.data import Item
from imitkit.eval.errors import EvalError
from imitkit.registry.records import canonical_json

TASK_NAMES = ("nq", "mmlu", "humaneval", "heldout", "judge")


@dataclass
class Options:
    """Settings of one ``eval run`` (CLI over defaults)."""

    limit: int | None = None
    shots: int | None = None
    batch_size: int = 8
    max_new_tokens: int | None = None
    samples: int = 1
    temperature: float = 0.0
    data: dict[str, str] = field(default_factory=dict)
    heldout: str | None = None
    judge: str | None = None
    timeout: float = 10.0
    workers: int | None = None
    seed: int = 0


@dataclass
class TaskResult:
    task: str
    metrics: dict[str, float]
    n: int
    settings: dict[str, Any]
    rows: list[dict[str, Any]]  # item_id, prompt, output, target, score, details
    seconds: float = 0.0
    resumed: int = 0
    cache_file: Path | None = None  # removed once the result is stored


class Task:
    name = ""
    default_shots = 0
    chunk = 32  # items predicted between cache writes

    def __init__(self, options: Options):
        self.options = options

    @property
    def shots(self) -> int:
        return self.default_shots if self.options.shots is None else self.options.shots

    # Leaf tasks implement these three.
    def load(self) -> list[Item]:
        raise NotImplementedError

    def predict(self, model: Any, items: list[Item]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def score(self, items: list[Item], predictions: list[dict[str, Any]]) -> tuple[dict[str, float], list[dict]]:
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        o = self.options
        return {"shots": self.shots, "limit": o.limit, "max_new_tokens": o.max_new_tokens}

    def items(self) -> list[Item]:
        """The items to score (loaded once; ``--limit`` keeps the first N)."""
        if not hasattr(self, "_items"):
            items = self.load()
            self._items = items[: self.options.limit] if self.options.limit is not None else items
        return self._items

    def run(self, model: Any, cache_dir: Path | None,
            progress: Callable[[int, int], None] | None = None) -> TaskResult:
        start = time.monotonic()
        items = self.items()
        if not items:
            raise EvalError(f"{self.name}: no items to evaluate")
        settings = {**self.settings(), "model": model.settings()}
        cache = _Cache(cache_dir, self.name, settings, [i.id for i in items]) if cache_dir else None
        done = cache.load() if cache else {}
        resumed = sum(1 for i in items if i.id in done)
        todo = [i for i in items if i.id not in done]
        if progress:
            progress(resumed, len(items))
        for begin in range(0, len(todo), self.chunk):
            batch = todo[begin:begin + self.chunk]
            predictions = self.predict(model, batch)
            if len(predictions) != len(batch):
                raise EvalError(f"{self.name}: {len(predictions)} predictions for {len(batch)} items")
            for item, pred in zip(batch, predictions):
                done[item.id] = pred
            if cache:
                cache.append([(i.id, p) for i, p in zip(batch, predictions)])
            if progress:
                progress(len(batch), len(items))
        metrics, rows = self.score(items, [done[i.id] for i in items])
        return TaskResult(self.name, metrics, len(items), settings, rows, time.monotonic() - start, resumed,
                          cache.path if cache else None)


class _Cache:
    """Predictions so far for one (task, settings, items) key, as JSON lines."""

    def __init__(self, folder: Path, task: str, settings: dict[str, Any], ids: list[str]):
        key = hashlib.blake2b(canonical_json([task, settings, ids]).encode(), digest_size=12).hexdigest()
        self.path = folder / f"{task}-{key}.jsonl"

    def load(self) -> dict[str, dict[str, Any]]:
        done: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    done[row["id"]] = row["prediction"]
                except (ValueError, KeyError):
                    break  # a line cut short by a kill: everything after it is redone
        return done

    def append(self, pairs: list[tuple[str, dict[str, Any]]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            for item_id, pred in pairs:
                f.write(json.dumps({"id": item_id, "prediction": pred}, ensure_ascii=False) + "\n")


def make_task(name: str, options: Options) -> Task:
    from imitkit.eval import heldout, humaneval, judge, mmlu, nq

    classes = {"nq": nq.NQTask, "mmlu": mmlu.MMLUTask, "humaneval": humaneval.HumanEvalTask,
               "heldout": heldout.HeldoutTask, "judge": judge.JudgeTask}
    if name not in classes:
        raise EvalError(f"unknown task {name!r}; valid tasks: {', '.join(TASK_NAMES)}")
    return classes[name](options)


def row(item: Item, prompt: str, output: str, score: float | None, **details: Any) -> dict[str, Any]:
    return {"item_id": item.id, "prompt": prompt, "output": output,
            "target": json.dumps(item.target, ensure_ascii=False), "score": score,
            "details": json.dumps(details, ensure_ascii=False) if details else None}
