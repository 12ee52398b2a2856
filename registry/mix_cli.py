"""Commands ``imitkit tokens`` and ``imitkit mix``."""

from __future__ import annotations

from typing import Any, Callable

import click

from imitkit.clikit import open_registry, print_json, print_rows, print_table, registry_option, stderr_console
from imitkit.registry.errors import QueryError
from imitkit.registry.mixspec import UNITS, SpecError, build_spec, parse_component

APPROX_NOTICE = "token counts are APPROXIMATE (no --tokenizer): characters / per-language factor"


def counting_progress() -> tuple[Any, Callable[[int, int], None]]:
    """A rich progress bar on stderr for token counting, and the callback that drives it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = stderr_console()
    bar = Progress(TextColumn("counting tokens"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=console, disable=not console.is_terminal)
    task = bar.add_task("count", total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


@click.group()
def tokens() -> None:
    """Token counts: exact with a tokenizer (cached per conversation), approximate without."""


@tokens.command("count")
@click.option("--tokenizer", default=None, help="transformers tokenizer: local path or hub id (exact counts).")
@click.option("--chat-template", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Jinja chat template file (default: the tokenizer's own).")
@click.option("--where", "where", default="TRUE", show_default=True, help="Only conversations matching this SQL clause.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Counting processes (default: cores).")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@registry_option
@click.pass_context
def count(ctx: click.Context, tokenizer: str | None, chat_template: str | None, where: str, workers: int | None,
          batch_size: int, as_json: bool) -> None:
    """Count tokens of conversations; later runs count only conversations not counted yet."""
    from imitkit.registry.runs import recorded_run
    from imitkit.registry.sql import check_read_only
    from imitkit.registry.tokenizer import resolve
    from imitkit.registry.tokens import approx_query, approx_tokens_sql, count_missing

    with open_registry(ctx, read_only=tokenizer is None) as reg:
        try:
            check_read_only(reg.con, f"SELECT c.id FROM conversations c WHERE ({where})")
            reg.scalar(f"SELECT count(*) FROM conversations c WHERE ({where})")
        except QueryError as e:
            raise SpecError(f"bad --where clause {where!r}: {e}") from e
        if tokenizer is None:
            total, trainable = approx_tokens_sql()
            rows = reg.rows(f"""SELECT source, count(*) AS conversations, sum({total}) AS tokens,
                sum({trainable}) AS trainable_tokens FROM ({approx_query(f'({where})', 'c.source')})
                GROUP BY 1 ORDER BY 1""")
            exact = False
        else:
            spec = resolve(tokenizer, chat_template)
            with recorded_run(reg, "tokens count", {"tokenizer": tokenizer, "chat_template": chat_template,
                                                    "where": where}) as run:
                bar, update = counting_progress()
                with bar:
                    summary = count_missing(reg, spec, run, f"SELECT c.id FROM conversations c WHERE ({where})",
                                            workers=workers, batch_size=batch_size, progress=update)
            click.echo(f"counted {summary.counted:,} new conversation(s) with {spec.name} "
                       f"({summary.missing - summary.counted:,} left, {summary.errors:,} the template could not render)",
                       err=True)
            rows = reg.rows(f"""SELECT c.source, count(*) AS conversations, sum(t.n_tokens) AS tokens,
                sum(t.n_trainable_tokens) AS trainable_tokens, count(*) FILTER (WHERE t.error IS NOT NULL) AS errors
                FROM conversations c JOIN t_token_count t ON t.conversation_id = c.id AND t.tokenizer_key = ?
                WHERE ({where}) GROUP BY 1 ORDER BY 1""", [spec.key])
            exact = True
    if as_json:
        print_json({"exact": exact, "tokenizer": tokenizer, "sources": rows})
        return
    print_rows(rows)
    if not exact:
        click.echo(f"note: {APPROX_NOTICE}", err=True)


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@registry_option
@click.pass_context
def list_tokenizers(ctx: click.Context, as_json: bool) -> None:
    """Tokenizers (with chat template) that counts are cached for."""
    with open_registry(ctx, read_only=True) as reg:
        rows = reg.rows("""SELECT k.tokenizer, left(k.template_sha256, 12) AS template, k.trainable_method,
            count(t.conversation_id) AS conversations, sum(t.n_tokens) AS tokens,
            sum(t.n_trainable_tokens) AS trainable_tokens, k.key
            FROM tokenizers k LEFT JOIN t_token_count t ON t.tokenizer_key = k.key GROUP BY ALL ORDER BY k.tokenizer""")
    print_rows(rows, as_json, "no token counts cached yet (try `imitkit tokens count --tokenizer T`)")


@click.command()
@click.argument("name", required=False)
@click.option("--spec", "spec_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="YAML spec file (options given here override it).")
@click.option("--budget", default=None, help="Token budget: 300k, 1.5M, 150M, or all.")
@click.option("--unit", type=click.Choice(UNITS), default=None, help="Budget unit (default trainable).")
@click.option("--component", "components", multiple=True, metavar='LABEL=WEIGHT:"SQL"',
              help="A component: label, share of the budget, SQL WHERE clause over `conversations`.")
@click.option("--seed", type=int, default=None, help="Selection seed (default 0).")
@click.option("--eval-fraction", type=float, default=None, help="Hold out this share of conversations as eval.")
@click.option("--tokenizer", default=None, help="Count exactly with this tokenizer (path or hub id).")
@click.option("--chat-template", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Chat template file for counting (default: the tokenizer's).")
@click.option("--allow-upsample", is_flag=True, default=None, help="Repeat conversations to fill a share.")
@click.option("--include-dropped", is_flag=True, default=None, help="Also take conversations curation dropped.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Token counting processes.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@registry_option
@click.pass_context
def mix(ctx: click.Context, name: str | None, spec_file: str | None, budget: str | None, unit: str | None,
        components: tuple[str, ...], seed: int | None, eval_fraction: float | None, tokenizer: str | None,
        chat_template: str | None, allow_upsample: bool | None, include_dropped: bool | None,
        workers: int | None, as_json: bool) -> None:
    """Build a token-budgeted mixture and write it as immutable snapshot NAME."""
    from imitkit.registry import snapshots
    from imitkit.registry.mixtures import Selector, check_sql
    from imitkit.registry.runs import recorded_run
    from imitkit.registry.tokenizer import resolve

    spec = build_spec(spec_file, name=name, budget=budget, unit=unit,
                      components=[parse_component(c) for c in components], seed=seed, eval_fraction=eval_fraction,
                      tokenizer=tokenizer, chat_template=chat_template, allow_upsample=allow_upsample or None,
                      only_kept=False if include_dropped else None)
    with open_registry(ctx) as reg:
        check_sql(reg, spec)  # every clause, before anything is written
        tok = resolve(spec.tokenizer, spec.chat_template) if spec.tokenizer else None
        with recorded_run(reg, "mix", {"spec": spec.normalized(), "name": spec.name, "tokenizer": spec.tokenizer,
                                       "chat_template": spec.chat_template}) as run:
            bar, update = counting_progress()
            with bar:
                results = Selector(reg, spec, tok, run, workers=workers, progress=update).select()
            written = snapshots.write(reg, spec, tok, run, results)
            splits = written.manifest["splits"]
            run.add(conversations=sum(s["conversations"] for s in splits.values()),
                    tokens=sum(s["tokens"] for s in splits.values()))
    _report(written, results, spec.unit, tok is not None, as_json)


def _report(written: Any, results: list, unit: str, exact: bool, as_json: bool) -> None:
    doc = written.manifest
    if as_json:
        print_json({"name": written.name, "fingerprint": written.fingerprint, "path": str(written.path),
                    "created": written.created, "token_counts_exact": exact, "splits": doc["splits"],
                    "components": [r.as_dict() for r in results]})
        return
    print_table(["component", "weight", f"share ({unit})", "got", "conversations", "repeats", "shortfall"],
                [(r.label, r.weight, "all" if r.share is None else f"{r.share:,}", f"{r.tokens:,}",
                  f"{r.conversations:,}", r.repeats, f"{r.shortfall:,}") for r in results])
    for r in results:
        if r.shortfall:
            click.echo(f"warning: component {r.label!r} is short by {r.shortfall:,} {unit} tokens: its filter matches "
                       f"only {r.available_tokens:,} (use --allow-upsample to repeat conversations)", err=True)
        if r.unrenderable:
            click.echo(f"warning: component {r.label!r}: {r.unrenderable:,} conversation(s) skipped: the chat template "
                       "cannot render them (see the token_counts view's error column)", err=True)
    totals = {k: sum(s[k] for s in doc["splits"].values()) for k in ("conversations", "tokens", "trainable_tokens")}
    verb = "wrote" if written.created else "unchanged (same content already exists):"
    split_text = ", ".join(f"{k} {v['conversations']:,}" for k, v in doc["splits"].items())
    click.echo(f"{verb} snapshot {written.name} {written.fingerprint[:12]} at {written.path}: "
               f"{totals['conversations']:,} conversations ({split_text}), {totals['tokens']:,} tokens, "
               f"{totals['trainable_tokens']:,} trainable" + ("" if exact else f" — {APPROX_NOTICE}"))
