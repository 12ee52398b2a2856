"""``imitkit sweep --spec sweep.yaml``."""

from __future__ import annotations

from pathlib import Path

import click

from imitkit.clikit import registry_dir, registry_option


@click.command()
@click.option("--spec", "spec_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Sweep spec (YAML): base models, budgets, mixture, finetune and eval settings.")
@click.option("--dry-run", is_flag=True, help="Print the plan (what is done, what would run) and stop.")
@click.option("--no-report", is_flag=True, help="Run the steps but do not write the report and plots.")
@registry_option
@click.pass_context
def sweep(ctx: click.Context, spec_path: Path, dry_run: bool, no_report: bool) -> None:
    """Snapshots at each budget, fine-tune each base model on each, evaluate all, report.

    Resumes where it stopped: a finished snapshot, model or eval is not redone.
    """
    from imitkit.cli import main
    from imitkit.eval.sweep import Sweep
    from imitkit.eval.sweep_spec import load_spec
    from imitkit.registry.store import Registry, resolve_registry_dir

    spec = load_spec(spec_path)
    root = resolve_registry_dir(registry_dir(ctx))
    Registry.open(root).close()  # create or migrate before the first read-only look
    runner = Sweep(spec, root, main)
    if dry_run:
        for step in runner.plan():
            click.echo(f"[{'done' if step.done else 'todo'}]  {step.kind:8} {step.label}\n        $ imitkit {' '.join(step.argv)}")
        return
    runner.run(click.echo)
    if not no_report:
        from imitkit.eval.sweep_report import write_reports

        write_reports(runner)
        click.echo(f"report: {runner.out / 'report.md'}")
