"""``imitkit evalset add|list``: register benchmark items for decontamination and eval."""

from __future__ import annotations

from pathlib import Path

import click

from imitkit.clikit import open_registry, print_rows, registry_option


@click.group()
def evalset() -> None:
    """Register eval sets (NQ questions, MMLU, HumanEval prompts, your own files)."""


@evalset.command("add")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--field", "field_name", required=True, help="Field holding the question/prompt text.")
@click.option("--id-field", default=None, help="Field holding the item id (default: 0-based record number).")
@click.option("--answer-field", default=None, help="Field holding gold answers, if any.")
@click.option("--task", default=None, help="Task name (nq, mmlu, humaneval, …); default NAME.")
@registry_option
@click.pass_context
def add(ctx: click.Context, name: str, file: Path, field_name: str, id_field: str | None,
        answer_field: str | None, task: str | None) -> None:
    """Register (or replace) eval set NAME from FILE (JSON, JSONL, .gz or CSV with a header)."""
    from imitkit.registry.evalsets import items_from_file, register
    from imitkit.registry.runs import recorded_run

    items = items_from_file(file, field_name, id_field, answer_field)  # validated before any write
    with open_registry(ctx) as reg, recorded_run(reg, "evalset add", {"name": name, "file": str(file)}) as run:
        n = register(reg, name, items, task=task or name, file=str(file.resolve()), field_name=field_name)
        run.add(items=n)
    click.echo(f"eval set {name}: {n:,} items registered from {file}")


@evalset.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@registry_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List registered eval sets."""
    with open_registry(ctx, read_only=True) as reg:
        rows = reg.rows("SELECT name, task, n_items, field, file, created_at FROM evalsets ORDER BY name")
    print_rows(rows, as_json, "no eval sets registered (see `imitkit evalset add --help`)")
