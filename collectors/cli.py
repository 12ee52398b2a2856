"""``imitkit import``."""

from __future__ import annotations

import click

from imitkit.clikit import open_registry, progress_bar, registry_option


@click.command("import")
@click.argument("format", metavar="FORMAT")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--source", required=True, help="Name of the source these records belong to.")
@click.option("--license", "license_", metavar="SPDX", default=None, help="License of the source (SPDX id).")
@click.option("--origin", type=click.Choice(["teacher", "human"]), default=None,
              help="Who wrote the assistant turns (default: teacher; human for oasst; per answer for hc3).")
@click.option("--teacher-model", default=None, help="The teacher model that wrote the assistant turns.")
@click.option("--notes", default=None, help="Free-text notes stored with the source.")
@click.option("--strict", is_flag=True, help="Exit non-zero when any record was quarantined.")
@click.option("--batch-size", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Conversations per write transaction.")
@registry_option
@click.pass_context
def import_cmd(ctx: click.Context, format: str, paths: tuple[str, ...], source: str, license_: str | None,
               origin: str | None, teacher_model: str | None, notes: str | None, strict: bool, batch_size: int) -> None:
    """Import PATH... as FORMAT: sharegpt, hc3, alpaca, messages, oasst or auto.

    Reads JSON arrays, JSON Lines (also named .json), single objects and .gz of each,
    streaming; `hf:DIR_OR_ID` loads through `datasets`. Unreadable records are
    quarantined and the import goes on; re-running adds nothing twice.
    """
    from imitkit.collectors.importer import ImportOptions, import_files

    options = ImportOptions(format, source, license_, origin, teacher_model, notes, batch_size)
    with open_registry(ctx) as reg, progress_bar() as progress:
        summary = import_files(reg, list(paths), options, progress)
    click.echo(f"{source}: {summary.line(source)}")
    if strict and summary.quarantined:
        ctx.exit(2)
