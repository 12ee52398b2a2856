"""Registry commands: init, sql, stats, show, sources, quarantine, runs."""

from __future__ import annotations

import click

from imitkit.clikit import open_registry, print_json, print_rows, print_table, registry_option
from imitkit.registry.errors import NotFoundError, QueryError


@click.command()
@registry_option
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the registry directory and database, or migrate an existing one."""
    with open_registry(ctx) as reg:
        click.echo(f"registry {reg.root} ready (schema version {reg.schema_version})")


@click.command()
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print rows as a JSON array of objects.")
@click.option("--limit", type=int, default=None, help="Show at most N rows.")
@registry_option
@click.pass_context
def sql(ctx: click.Context, query: str, as_json: bool, limit: int | None) -> None:
    """Run a read-only SQL QUERY (SELECT, EXPLAIN, PRAGMA) against the registry views."""
    from imitkit.registry.sql import run_user_query

    with open_registry(ctx, read_only=True) as reg:
        columns, rows = run_user_query(reg.con, query)
    if limit is not None:
        rows = rows[:limit]
    if as_json:
        print_json([dict(zip(columns, row)) for row in rows])
    elif columns:
        print_table(columns, rows)
        click.echo(f"{len(rows)} row(s)", err=True)


_STATS_GROUPS = {"source": "source", "lang": "coalesce(lang, '?')", "origin": "origin"}


@click.command()
@click.option("--by", "by", type=click.Choice(sorted(_STATS_GROUPS)), default=None, help="Break counts down.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@registry_option
@click.pass_context
def stats(ctx: click.Context, by: str | None, as_json: bool) -> None:
    """Conversations, kept, turns and characters (overall or --by source|lang|origin)."""
    key = _STATS_GROUPS[by] if by else "'all'"
    query = f"""
        SELECT {key} AS "group", count(*) AS conversations, count(*) FILTER (WHERE kept) AS kept,
               sum(n_turns) AS turns, round(avg(n_turns), 2) AS avg_turns, sum(n_chars) AS chars,
               count(*) FILTER (WHERE origin = 'teacher') AS teacher, count(*) FILTER (WHERE origin = 'human') AS human
        FROM conversations GROUP BY ALL ORDER BY conversations DESC, "group"
    """
    with open_registry(ctx, read_only=True) as reg:
        rows = reg.rows(query)
        if as_json:
            print_json(rows if by else (rows[0] if rows else {"conversations": 0}))
            return
        if not rows:
            click.echo("the registry holds no conversations yet (try `imitkit import`)")
            return
        columns = list(rows[0])
        columns[0] = by or "registry"
        print_table(columns, [tuple(r.values()) for r in rows])


@click.command()
@click.argument("conversation_id")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@registry_option
@click.pass_context
def show(ctx: click.Context, conversation_id: str, as_json: bool) -> None:
    """Show a conversation (full id or unique prefix) with where it was seen."""
    with open_registry(ctx, read_only=True) as reg:
        matches = reg.rows("SELECT * FROM conversations WHERE id LIKE ? || '%' ORDER BY id LIMIT 2",
                           [conversation_id if conversation_id.startswith("c:") else "c:" + conversation_id])
        if not matches:
            raise NotFoundError(f"no conversation with id {conversation_id}")
        if len(matches) > 1:
            raise QueryError(f"id prefix {conversation_id} is ambiguous; give more characters")
        conv = matches[0]
        occurrences = reg.rows("SELECT * FROM occurrences WHERE conversation_id = ? ORDER BY created_at", [conv["id"]])
    if as_json:
        print_json({**conv, "occurrences": occurrences})
        return
    from rich.console import Console
    from rich.panel import Panel

    console = Console()
    console.print(f"[bold]{conv['id']}[/]  source={conv['source']} origin={conv['origin']} "
                  f"teacher_model={conv['teacher_model']} lang={conv['lang']} kept={conv['kept']}")
    for m in conv["messages"]:
        body = m["content"] or ("" if not m.get("tool_calls") else f"tool call: {m['tool_calls']}")
        console.print(Panel(body, title=m["role"], title_align="left", expand=True), markup=False)
    for o in occurrences:
        console.print(f"seen in {o['source']}: {o['file']} record {o['record_index']}"
                      f"{' part ' + str(o['part']) if o['part'] else ''}"
                      f"{' line ' + str(o['line']) if o['line'] else ''} (run {o['run_id']})")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@registry_option
@click.pass_context
def sources(ctx: click.Context, as_json: bool) -> None:
    """List sources with format, license, origin and conversation counts."""
    with open_registry(ctx, read_only=True) as reg:
        rows = reg.rows("""
            SELECT s.name, s.format, s.license, s.origin, s.teacher_model,
                   (SELECT count(*) FROM conversations c WHERE c.source = s.name) AS conversations,
                   (SELECT count(DISTINCT conversation_id) FROM occurrences o WHERE o.source = s.name) AS seen,
                   (SELECT count(*) FROM quarantine q WHERE q.source = s.name) AS quarantined, s.notes
            FROM sources s ORDER BY s.name""")
    print_rows(rows, as_json, "no sources yet (try `imitkit import`)")


@click.command()
@click.option("--source", default=None, help="Only this source.")
@click.option("--limit", type=int, default=20, show_default=True, help="Show at most N records.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@registry_option
@click.pass_context
def quarantine(ctx: click.Context, source: str | None, limit: int, as_json: bool) -> None:
    """List quarantined records: file, record index, line, reason and an excerpt."""
    with open_registry(ctx, read_only=True) as reg:
        where, params = ("WHERE source = ?", [source]) if source else ("", [])
        total = reg.scalar(f"SELECT count(*) FROM quarantine {where}", params)
        rows = reg.rows(f"""SELECT source, file, record_index, line, reason, excerpt, run_id FROM quarantine {where}
                            ORDER BY created_at, file, record_index LIMIT ?""", params + [limit])
    if as_json:
        print_json(rows)
        return
    print_rows(rows, empty="nothing quarantined")
    if rows:
        click.echo(f"{len(rows)} of {total} quarantined record(s)", err=True)


@click.command()
@click.option("--limit", type=int, default=20, show_default=True, help="Show the N most recent runs.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@registry_option
@click.pass_context
def runs(ctx: click.Context, limit: int, as_json: bool) -> None:
    """List recent runs (every command that wrote), newest first."""
    with open_registry(ctx, read_only=True) as reg:
        rows = reg.rows("SELECT id, command, status, started_at, seconds, counts, error FROM runs "
                        "ORDER BY started_at DESC LIMIT ?", [limit])
    print_rows(rows, as_json, "no runs yet")
