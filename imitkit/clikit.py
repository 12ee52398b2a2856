"""Helpers shared by every stage's commands: the registry option and output."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable

import click


def registry_option(f: Callable) -> Callable:
    """``--registry DIR`` on a subcommand too, so it works on either side of the command name."""

    def remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value:
            ctx.ensure_object(dict)
            ctx.find_root().ensure_object(dict)["registry"] = value

    return click.option("--registry", metavar="DIR", expose_value=False, callback=remember,
                        help="Registry directory (default ./.imitkit; env IMITKIT_REGISTRY).")(f)


def registry_dir(ctx: click.Context) -> str | None:
    root = ctx.find_root()
    return (root.obj or {}).get("registry")


def open_registry(ctx: click.Context, read_only: bool = False) -> Any:
    from imitkit.registry.store import Registry

    return Registry.open(registry_dir(ctx), read_only=read_only)


def stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def progress_bar() -> Any:
    """A rich progress bar on stderr (quiet when stderr is not a terminal)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = stderr_console()
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, disable=not console.is_terminal, transient=False)


def jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def print_json(value: Any) -> None:
    click.echo(json.dumps(jsonable(value), ensure_ascii=False, indent=2))


def print_table(columns: list[str], rows: list[tuple | list], title: str | None = None, max_width: int = 80) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for name in columns:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*[_cell(v, max_width) for v in row])
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def print_rows(rows: list[dict[str, Any]], as_json: bool = False, empty: str | None = None) -> None:
    """Rows of dicts as JSON (``--json``) or a table; ``empty`` is said when there are none."""
    if as_json:
        print_json(rows)
    elif rows:
        print_table(list(rows[0]), [tuple(r.values()) for r in rows])
    elif empty:
        click.echo(empty)


def _cell(value: Any, max_width: int) -> str:
    if value is None:
        return "NULL"
    text = value if isinstance(value, str) else json.dumps(jsonable(value), ensure_ascii=False) if isinstance(value, (list, dict)) else str(value)
    text = text.replace("\n", "⏎")
    return text if len(text) <= max_width else text[: max_width - 1] + "…"
