"""``eval score``: score a JSONL of predictions from any system against a benchmark's gold data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from imitkit.eval import data
from imitkit.eval.errors import EvalDataError
from imitkit.eval.sandbox import Limits
from imitkit.eval.tasks import TaskResult


def read_predictions(path: Path) -> list[dict[str, Any]]:
    records = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise EvalDataError(f"{path}: line {n} is not JSON: {e.msg}") from e
            if not isinstance(record, dict) or "output" not in record:
                raise EvalDataError(f"{path}: line {n} needs an object with 'output'")
            records.append(record)
    if not records:
        raise EvalDataError(f"{path}: no predictions")
    return records


def _by_id(items: list[data.Item], records: list[dict[str, Any]], task: str, example: str
           ) -> list[tuple[data.Item, str]]:
    known = {i.id: i for i in items}
    pairs = []
    for n, record in enumerate(records, 1):
        item = known.get(str(record.get("id")))
        if item is None:
            raise EvalDataError(f"predictions line {n}: id {record.get('id')!r} is not a {task} item "
                                f"(ids look like {example})")
        pairs.append((item, str(record["output"] or "")))
    return pairs


def score_file(task: str, predictions: Path, data_path: Path | None, timeout: float = 10.0,
               workers: int | None = None) -> tuple[TaskResult, Path | None]:
    records = read_predictions(predictions)
    path = data.resolve(task, data_path)
    settings = {"predictions": str(predictions.resolve()), "data": str(path) if path else f"hf:{task}"}
    if task == "nq":
        from imitkit.eval.nq import match_predictions, score_outputs

        items, outputs = match_predictions(data.load_nq(path), records)
        metrics, rows = score_outputs(items, outputs)
        n = len(items)
    elif task == "mmlu":
        from imitkit.eval.mmlu import score_outputs

        pairs = _by_id(data.load_mmlu(path)[0], records, task, "'anatomy/0'")
        metrics, rows = score_outputs([p[0] for p in pairs], [p[1] for p in pairs])
        n = len(pairs)
    else:
        from imitkit.eval.humaneval import score_completions

        pairs = _by_id(data.load_humaneval(path), records, task, "'HumanEval/0'")
        metrics, rows = score_completions(pairs, Limits(timeout_s=timeout), workers)
        n = len({p[0].id for p in pairs})
        settings["samples"] = len(pairs)
    return TaskResult(task, metrics, n, settings, rows), path
