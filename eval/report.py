"""``eval report``: every task's headline metric per model, the gap closed, and the budget plot.

Gap closed per task = (imitation − base) / (teacher − base), from stored results only.
The judge compares against the teacher's own answers, so the teacher's judge score is
0.5 by construction (a tie with itself) when it was not judged.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from imitkit.eval.errors import EvalError
from imitkit.eval.metrics import gap_closed

PRIMARY = {"nq": "exact_match", "mmlu": "accuracy", "humaneval": "pass@1", "heldout": "loss", "judge": "score"}
TASK_ORDER = ("nq", "mmlu", "humaneval", "heldout", "judge")
TEACHER_SELF = {"judge": 0.5}


def latest(registry: Any, models: list[str] | None) -> list[dict[str, Any]]:
    where = f"WHERE model IN ({', '.join('?' * len(models))})" if models else ""
    return registry.rows(f"SELECT model, task, metric, value, n, snapshot, trainable_tokens, base_model, created_at "
                         f"FROM eval_latest {where} ORDER BY model, task, metric", models or [])


def build(rows: list[dict[str, Any]], base: str | None = None, teacher: str | None = None,
          only: list[str] | None = None) -> dict[str, Any]:
    """Primary metric per model and task, and gap closed; ``only`` limits the models shown (plus base, teacher)."""
    results: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    lineage: dict[str, dict[str, Any]] = {}
    for r in rows:
        results[r["model"]][r["task"]][r["metric"]] = r["value"]
        lineage.setdefault(r["model"], {"snapshot": r["snapshot"], "trainable_tokens": r["trainable_tokens"],
                                        "base_model": r["base_model"]})
    models = sorted(results)
    tasks = [t for t in TASK_ORDER if any(t in results[m] for m in models)]
    tasks += sorted({t for m in models for t in results[m]} - set(tasks))
    if base is None:  # lineage names the base model the imitation models were fine-tuned from
        bases = {lineage[m]["base_model"] for m in (only or models) if lineage[m]["base_model"] in results}
        base = bases.pop() if len(bases) == 1 else None
    for who, flag in ((base, "--base"), (teacher, "--teacher")):
        if who is not None and who not in results:
            raise EvalError(f"{flag} {who!r} has no stored results; models with results: {', '.join(models)}")
    if only:
        unknown = [m for m in only if m not in results]
        if unknown:
            raise EvalError(f"no stored results for {', '.join(unknown)}; models with results: {', '.join(models)}")
        models = [m for m in models if m in only or m in (base, teacher)]
    primary = {m: {t: results[m][t].get(PRIMARY.get(t, ""), None) for t in tasks if t in results[m]} for m in models}
    gaps = []
    if base and teacher:
        for model in models:
            if model in (base, teacher):
                continue
            for task in tasks:
                b, i = primary[base].get(task), primary[model].get(task)
                t = primary[teacher].get(task, TEACHER_SELF.get(task))
                if None not in (b, i, t):
                    gaps.append({"model": model, "task": task, "metric": PRIMARY.get(task), "base": b,
                                 "imitation": i, "teacher": t, "gap_closed": gap_closed(b, i, t)})
    return {"models": models, "tasks": tasks, "primary_metric": {t: PRIMARY.get(t) for t in tasks},
            "primary": primary, "results": {m: dict(results[m]) for m in models}, "lineage": lineage,
            "base": base, "teacher": teacher, "gap_closed": gaps}


def plot(report: dict[str, Any], path: Path) -> int:
    """Metric vs trainable tokens per task (the paper's scaling figures); returns the number of panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budgets = {m: report["lineage"][m]["trainable_tokens"] for m in report["models"]
               if report["lineage"][m]["trainable_tokens"]}
    if len(set(budgets.values())) < 2:
        raise EvalError("--plot needs results for models fine-tuned on at least two snapshots with different "
                        "trainable token counts (lineage comes from the models/snapshots views or --snapshot)")
    tasks = [t for t in report["tasks"] if sum(1 for m in budgets if t in report["primary"][m]) >= 2]
    if not tasks:
        raise EvalError("--plot: no task was evaluated on two or more snapshot budgets")
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        series: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for model, tokens in budgets.items():
            value = report["primary"][model].get(task)
            if value is not None:
                series[report["lineage"][model]["base_model"] or "imitation"].append((tokens, value))
        for label, points in sorted(series.items()):
            xs, ys = zip(*sorted(points))
            ax.plot(xs, ys, marker="o", label=label)
        for who, style in ((report["base"], ":"), (report["teacher"], "--")):
            value = report["primary"].get(who, {}).get(task) if who else None
            if value is not None:
                ax.axhline(value, linestyle=style, color="grey", label=who)
        ax.set_xscale("log")
        ax.set_xlabel("trainable tokens")
        ax.set_ylabel(PRIMARY.get(task, "value"))
        ax.set_title(task)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return len(tasks)
