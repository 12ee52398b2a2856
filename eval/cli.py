"""``imitkit eval run|score|report``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from imitkit.clikit import open_registry, print_json, print_table, registry_dir, registry_option, stderr_console
from imitkit.eval.errors import EvalDataError, EvalError


@click.group("eval")
def eval_group() -> None:
    """Evaluate models (NQ, MMLU, HumanEval, held-out imitation, LLM judge) and report the imitation gap."""


def _data_overrides(values: tuple[str, ...]) -> dict[str, str]:
    from imitkit.eval.data import DEFAULT_FILES

    out = {}
    for value in values:
        task, sep, path = value.partition("=")
        if not sep:  # a folder laid out like ../shared/data
            for name, relative in DEFAULT_FILES.items():
                out[name] = str(Path(value) / relative)
            continue
        if task not in DEFAULT_FILES:
            raise EvalError(f"--data {value!r}: TASK must be one of {', '.join(DEFAULT_FILES)}")
        out[task] = path
    return out


@eval_group.command("run")
@click.option("--model", "spec", required=True, metavar="SPEC",
              help="Local path or hub id (transformers), or openai:MODEL[@BASE_URL].")
@click.option("--tasks", default="nq,mmlu,humaneval", show_default=True,
              help="Comma-separated: nq, mmlu, humaneval, heldout, judge.")
@click.option("--snapshot", default=None, help="Snapshot the model was trained on (lineage; heldout/judge data).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Score only the first N items per task.")
@click.option("--shots", type=click.IntRange(min=0), default=None, help="Few-shot examples (default: nq 5, mmlu 5).")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True, help="Local model batch.")
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=None, help="Generation budget per answer.")
@click.option("--samples", type=click.IntRange(min=1), default=1, show_default=True,
              help="HumanEval samples per problem (pass@k for k <= samples).")
@click.option("--temperature", type=float, default=0.0, show_default=True, help="0 = greedy.")
@click.option("--data", "data", multiple=True, metavar="DIR|TASK=PATH",
              help="Eval data folder (layout of ../shared/data) or one task's file; repeatable.")
@click.option("--heldout", type=click.Path(dir_okay=False), default=None,
              help="Held-out conversations (Parquet/JSONL with messages) instead of the snapshot's eval split.")
@click.option("--judge", default=None, metavar="SPEC", help="Judge model for the judge task: openai:MODEL[@URL].")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="HumanEval seconds per program.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Sandbox processes (default: all cores).")
@click.option("--name", default=None, help="Label for the model in reports (default: the spec).")
@click.option("--device", default=None, help="torch device for local models (default cuda if available).")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@registry_option
@click.pass_context
def run_cmd(ctx: click.Context, spec: str, tasks: str, snapshot: str | None, limit: int | None, shots: int | None,
            batch_size: int, max_new_tokens: int | None, samples: int, temperature: float, data: tuple[str, ...],
            heldout: str | None, judge: str | None, timeout: float, workers: int | None, name: str | None,
            device: str | None, as_json: bool) -> None:
    """Run a model on eval tasks and store every result (and per-item predictions) in the registry."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from imitkit.eval.runner import run_eval
    from imitkit.eval.tasks import TASK_NAMES, Options

    names = [t.strip() for t in tasks.split(",") if t.strip()]
    unknown = [t for t in names if t not in TASK_NAMES]
    if unknown or not names:
        raise EvalError(f"unknown task(s) {', '.join(unknown) or '(none)'}; valid tasks: {', '.join(TASK_NAMES)}")
    options = Options(limit=limit, shots=shots, batch_size=batch_size, max_new_tokens=max_new_tokens,
                      samples=samples, temperature=temperature, data=_data_overrides(data), heldout=heldout,
                      judge=judge, timeout=timeout, workers=workers)
    console = stderr_console()
    summary: dict[str, Any] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=not console.is_terminal) as bar:
        bars: dict[str, Any] = {}

        def progress(task: str, step: int, total: int) -> None:
            if task not in bars:
                bars[task] = bar.add_task(task, total=total)
            bar.advance(bars[task], step)

        def report(result: Any, eval_id: str) -> None:
            summary[result.task] = {"eval_id": eval_id, "n": result.n, **result.metrics}
            if not as_json:
                resumed = f", {result.resumed} resumed" if result.resumed else ""
                console.print(f"{result.task}: {_headline(result.task, result.metrics)} "
                              f"(n={result.n}{resumed}, {result.seconds:.1f}s, {eval_id})")

        run_eval(registry_dir(ctx), spec, names, options, name=name, snapshot=snapshot, device=device,
                 progress=progress, on_result=report)
    if as_json:
        print_json(summary)


def _headline(task: str, metrics: dict[str, float]) -> str:
    keys = [k for k in metrics if "/" not in k or task == "heldout" and k.startswith("style/length")]
    return ", ".join(f"{k}={metrics[k]:.4g}" for k in keys[:6])


@eval_group.command("score")
@click.option("--task", required=True, type=click.Choice(["nq", "mmlu", "humaneval"]), help="Which benchmark.")
@click.option("--predictions", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='JSONL, one {"id": …, "output": …} per line.')
@click.option("--data", type=click.Path(exists=True, path_type=Path), default=None,
              help="The task's data file or folder (default: the shared data folder).")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="HumanEval seconds per program.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Sandbox processes (default: all cores).")
@click.option("--model", "store_as", default=None, metavar="NAME",
              help="Also store the result in the registry under this model name (for reports).")
@registry_option
@click.pass_context
def score_cmd(ctx: click.Context, task: str, predictions: Path, data: Path | None, as_json: bool,
              timeout: float, workers: int | None, store_as: str | None) -> None:
    """Score predictions produced by any system against NQ, MMLU or HumanEval."""
    from imitkit.eval.scoring import score_file

    result, data_path = score_file(task, predictions, data, timeout=timeout, workers=workers)
    metrics = {**result.metrics, "n": result.n}
    if store_as:
        from imitkit.eval.runner import store_external

        metrics["eval_id"] = store_external(registry_dir(ctx), store_as, result, data_path)
    if as_json:
        click.echo(json.dumps(metrics))
        return
    shown = {k: v for k, v in metrics.items() if not k.startswith("subject/")}
    print_table(["metric", "value"], [(k, f"{v:.4f}" if isinstance(v, float) else v) for k, v in shown.items()])


@eval_group.command("report")
@click.option("--models", default=None, metavar="A,B,C", help="Only these models (default: all evaluated).")
@click.option("--base", default=None, help="The base model (default: from lineage when unambiguous).")
@click.option("--teacher", default=None, help="The teacher model, e.g. openai:gpt-3.5-turbo.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE.png",
              help="Plot metric vs trainable tokens per task (needs several snapshot budgets).")
@registry_option
@click.pass_context
def report_cmd(ctx: click.Context, models: str | None, base: str | None, teacher: str | None, as_json: bool,
               plot: Path | None) -> None:
    """Every task's metric per model and the share of the base→teacher gap each imitation model closes."""
    from imitkit.eval import report

    wanted = [m.strip() for m in models.split(",") if m.strip()] if models else None
    with open_registry(ctx, read_only=True) as reg:
        rows = report.latest(reg, None)
    if not rows:
        raise EvalDataError("no eval results stored yet (run `imitkit eval run` first)")
    doc = report.build(rows, base, teacher, only=wanted)
    if plot:
        doc["plot"] = {"file": str(plot), "panels": report.plot(doc, plot)}
    if as_json:
        print_json(doc)
        return
    tasks = doc["tasks"]
    header = ["model"] + [f"{t} ({doc['primary_metric'][t]})" for t in tasks]
    print_table(header, [[m] + [_fmt(doc["primary"][m].get(t)) for t in tasks] for m in doc["models"]],
                title="Eval results (latest per model and task)")
    if doc["gap_closed"]:
        print_table(["model", "task", "base", "imitation", "teacher", "gap closed"],
                    [(g["model"], g["task"], _fmt(g["base"]), _fmt(g["imitation"]), _fmt(g["teacher"]),
                      "n/a" if g["gap_closed"] is None else f"{100 * g['gap_closed']:.1f}%") for g in doc["gap_closed"]],
                    title=f"Gap closed: (imitation - base) / (teacher - base), base={doc['base']}, "
                          f"teacher={doc['teacher']}")
    elif not (doc["base"] and doc["teacher"]):
        click.echo("(pass --base and --teacher to see the share of the gap closed)", err=True)
    if plot:
        click.echo(f"plot written to {plot}", err=True)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"
