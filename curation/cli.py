"""``imitkit curate [report]`` and ``imitkit rejects``."""

from __future__ import annotations

import json

import click

from imitkit.clikit import open_registry, print_json, print_table, registry_option, stderr_console


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = stderr_console()
    return Progress(TextColumn("{task.description:>14}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, disable=not console.is_terminal, transient=False)


@click.group(invoke_without_command=True)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML config (see --print-config for every key and its default).")
@click.option("--steps", default=None, metavar="A,B,…",
              help="Run only these steps (canonical order); an opt-in step named here joins the pipeline.")
@click.option("--rerun", is_flag=True, help="Forget the selected steps' verdicts and judge everything again.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override one config value, e.g. --set near_dedup.threshold=0.7 (repeatable).")
@click.option("--print-config", is_flag=True, help="Print the full effective config as YAML and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the per-step results as JSON.")
@registry_option
@click.pass_context
def curate(ctx: click.Context, config_path: str | None, steps: str | None, rerun: bool, overrides: tuple[str, ...],
           print_config: bool, as_json: bool) -> None:
    """Curate the registry's conversations: every decision is stored as a verdict.

    Default pipeline: normalize, structure, exact_dedup, near_dedup, language, leaks,
    repetition, decontaminate (when an eval set is registered); split_long, refusals and
    pii are opt-in. Runs are incremental (only new or changed conversations are judged)
    and can be interrupted and resumed.
    """
    if ctx.invoked_subcommand is not None:
        return
    from imitkit.curation.config import load_config, render_config, select_steps

    config = load_config(config_path, list(overrides))
    selected = select_steps(config, steps)
    if print_config:
        click.echo(render_config(config), nl=False)
        return
    from imitkit.curation.pipeline import run_pipeline

    console = stderr_console()
    with open_registry(ctx) as reg, _progress() as progress:
        def show(result) -> None:
            if result.skipped:
                console.print(f"{result.step}: skipped, {result.skipped}")
            else:
                console.print(f"{result.step}: judged {result.judged:,}, kept {result.kept:,}, dropped "
                              f"{result.dropped:,} in {result.seconds:.1f}s")

        run_id, results = run_pipeline(reg, config, selected, rerun=rerun, progress=progress,
                                       arguments={"config_file": config_path}, on_result=show)
    if as_json:
        print_json({"run_id": run_id, "steps": [
            {"step": r.step, "judged": r.judged, "kept": r.kept, "dropped": r.dropped, "seconds": round(r.seconds, 3),
             "per_second": round(r.rate, 1), "reasons": dict(r.reasons), "skipped": r.skipped} for r in results]})
        return
    rows = [(r.step, "skipped" if r.skipped else f"{r.judged:,}", f"{r.kept:,}", f"{r.dropped:,}",
             f"{r.seconds:.1f}", f"{r.rate:,.0f}", ", ".join(f"{k} ({v:,})" for k, v in r.reasons.most_common(3)))
            for r in results]
    print_table(["step", "judged", "kept", "dropped", "seconds", "conv/s", "top reasons"], rows, title=f"curate {run_id}")


@curate.command("report")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@registry_option
@click.pass_context
def report(ctx: click.Context, as_json: bool) -> None:
    """Per step: judged, kept, dropped by reason; contamination per eval set; languages."""
    from imitkit.curation.report import curation_report

    with open_registry(ctx, read_only=True) as reg:
        data = curation_report(reg)
    if as_json:
        print_json(data)
        return
    click.echo(f"{data['conversations']:,} conversations, {data['kept']:,} kept; "
               f"pipeline: {', '.join(data['pipeline']) or '(never curated)'}")
    rows = []
    for s in data["steps"]:
        reasons = "; ".join(f"{k}: {v:,}" for k, v in list(s["reasons"].items())[:6])
        rows.append((s["step"] + ("" if s["configured"] else " (not configured)"), f"{s['judged']:,}",
                     f"{s['kept']:,}", f"{s['dropped']:,}", reasons))
    print_table(["step", "judged", "kept", "dropped", "dropped by reason"], rows, max_width=120)
    if data["contamination"]:
        print_table(["eval set", "conversations", "items", "exact"],
                    [tuple(r.values()) for r in data["contamination"]], title="contamination")
    if data["languages"]:
        print_table(["lang", "conversations", "kept", "mixed user/assistant"],
                    [tuple(r.values()) for r in data["languages"]], title="languages")


@click.command()
@click.option("--step", required=True, help="The step whose drops to show.")
@click.option("--reason", default=None, help="Only this reason (or reasons starting with it).")
@click.option("--limit", type=click.IntRange(min=1), default=5, show_default=True, help="Show at most N.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@registry_option
@click.pass_context
def rejects(ctx: click.Context, step: str, reason: str | None, limit: int, as_json: bool) -> None:
    """Dropped conversations side by side with what they duplicated or matched."""
    from imitkit.curation.errors import ConfigError
    from imitkit.curation.report import rejects as find_rejects, render_messages
    from imitkit.curation.steps import STEP_NAMES

    if step not in STEP_NAMES:
        raise ConfigError(f"unknown step {step!r}; valid: {', '.join(STEP_NAMES)}")
    with open_registry(ctx, read_only=True) as reg:
        found = find_rejects(reg, step, reason, limit)
    if as_json:
        print_json(found)
        return
    if not found:
        click.echo(f"no drops by {step}" + (f" with reason {reason!r}" if reason else ""))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for item in found:
        table = Table(title=f"{item['id']}  {item['reason']}", show_lines=True, expand=True)
        other = item["counterpart"]
        table.add_column("dropped", ratio=1, overflow="fold")
        right = None
        if other:
            table.add_column(f"{other['kind']}: {other['id']}", ratio=1, overflow="fold")
            right = render_messages(other["messages"]) if other.get("messages") else other.get("text", "")
        left = render_messages(item["messages"])
        table.add_row(*([left, right] if other else [left]))
        console.print(table, markup=False)
        details = {k: v for k, v in item["details"].items() if k not in ("parts",)}
        if details:
            console.print(json.dumps(details, ensure_ascii=False)[:600], markup=False)
