"""Run the configured steps in canonical order inside one recorded run."""

from __future__ import annotations

from typing import Any

from imitkit.curation.config import CurationConfig
from imitkit.curation.step import Context, StepResult
from imitkit.curation.steps import step_class
from imitkit.curation.store import save_pipeline
from imitkit.registry.runs import recorded_run


def run_pipeline(registry: Any, config: CurationConfig, selected: list[str], *, rerun: bool = False,
                 progress: Any = None, arguments: dict | None = None,
                 on_result: Any = None) -> tuple[str, list[StepResult]]:
    """Run ``selected`` (a subset of the pipeline) and return the run id and per-step results."""
    results: list[StepResult] = []
    args = {"steps": selected, "rerun": rerun, "config": config.to_dict(), **(arguments or {})}
    with recorded_run(registry, "curate", args) as run:
        ctx = Context(registry, run.id, config, list(config.pipeline.steps), rerun, progress)
        steps = {name: step_class(name)(ctx) for name in config.pipeline.steps}
        # Recorded first: `kept` follows the configured steps even while a step is running.
        save_pipeline(registry, [(name, steps[name].fingerprint, steps[name].params) for name in config.pipeline.steps])
        for name in selected:
            result = steps[name].run()
            results.append(result)
            run.add(**{f"{name}.judged": result.judged, f"{name}.kept": result.kept, f"{name}.dropped": result.dropped})
            run.counts[f"{name}.seconds"] = round(result.seconds, 3)
            if on_result is not None:
                on_result(result)
    return run.id, results
