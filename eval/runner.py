"""``eval run`` end to end: lineage (read-only), model runs (no lock held), results (short write).

Each task's result is stored as soon as it is scored, in its own recorded run, so a
failure in a later task never loses an earlier one; predictions of an interrupted task
are cached under ``<registry>/evals/partial`` and reused by the next identical run.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from imitkit.eval.models import load_model, parse_spec
from imitkit.eval.store import heldout_file, lineage, register_evalset, save_result
from imitkit.eval.tasks import Options, TaskResult, make_task
from imitkit.registry.runs import recorded_run
from imitkit.registry.store import Registry

REGISTERED_TASKS = ("nq", "mmlu", "humaneval")


def model_label(spec: str, name: str | None) -> str:
    return name or (spec.rstrip("/") if not spec.startswith("openai:") else spec)


def run_eval(registry_dir: str | None, spec: str, tasks: list[str], options: Options, *,
             name: str | None = None, snapshot: str | None = None, device: str | None = None,
             progress: Callable[[str, int, int], None] | None = None,
             on_result: Callable[[TaskResult, str], None] | None = None) -> list[tuple[TaskResult, str]]:
    parsed = parse_spec(spec)
    label = model_label(spec, name)
    with Registry.open(registry_dir, read_only=True) as reg:
        info = lineage(reg, parsed.name if parsed.is_local_dir else None, snapshot)
        root = reg.root
    if info["snapshot"] and not options.heldout and {"heldout", "judge"} & set(tasks):
        options.heldout = str(heldout_file(root, info["snapshot"]))
    jobs = [make_task(t, options) for t in tasks]
    for job in jobs:
        job.items()  # fail on missing data or flags before loading the model
    model = load_model(parsed, batch_size=options.batch_size, device=device)
    cache_dir = root / "evals" / "partial" / hashlib.blake2b(label.encode(), digest_size=6).hexdigest()
    stored = []
    for job in jobs:
        def tick(step: int, total: int, task: str = job.name) -> None:
            if progress:
                progress(task, step, total)

        result = job.run(model, cache_dir, tick)
        arguments = {"model": spec, "name": label, "task": job.name, "snapshot": info["snapshot"],
                     "options": asdict(options)}
        with Registry.open(registry_dir) as reg, recorded_run(reg, "eval run", arguments) as run:
            if job.name in REGISTERED_TASKS:
                run.add(evalset_items=register_evalset(reg, job.name, getattr(job, "path", None)))
            eval_id = save_result(reg, run, label, spec, parsed.kind, info, result)
        if result.cache_file:
            result.cache_file.unlink(missing_ok=True)
        stored.append((result, eval_id))
        if on_result:
            on_result(result, eval_id)
    return stored


def store_external(registry_dir: str | None, model: str, result: TaskResult, data_path: Path | None) -> str:
    """Store a result scored by ``eval score --model NAME`` (outputs of any system)."""
    arguments = {"model": model, "task": result.task, "settings": result.settings}
    with Registry.open(registry_dir) as reg, recorded_run(reg, "eval score", arguments) as run:
        if result.task in REGISTERED_TASKS:
            run.add(evalset_items=register_evalset(reg, result.task, data_path))
        info: dict[str, Any] = {"snapshot": None}
        return save_result(reg, run, model, "external", "external", info, result)
