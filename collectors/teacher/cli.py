"""``imitkit teacher``: answer prompts, synthesize task prompts, manage Batch API jobs, inspect calls."""

from __future__ import annotations

import click

from imitkit.clikit import open_registry, print_json, print_table, registry_option, stderr_console


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = stderr_console()
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), console=console, disable=not console.is_terminal)


@click.group()
def teacher() -> None:
    """Collect data from a teacher model through any OpenAI-compatible API."""


def _answer_options(f):
    from imitkit.collectors.teacher.config import AnswerOptions
    from dataclasses import fields

    for spec in reversed(fields(AnswerOptions)):
        name = "--" + spec.name.replace("_", "-")
        help_text = spec.metadata["help"]
        if spec.type in ("bool",) or spec.type is bool:
            f = click.option(name, spec.name, is_flag=True, default=None, help=help_text)(f)
        else:
            kind = {"int": int, "float": float}.get(str(spec.type).split(" |")[0], str)
            f = click.option(name, spec.name, type=kind, default=None, help=help_text)(f)
    return f


@teacher.command("answer")
@_answer_options
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML file of these options.")
@click.option("--dry-run", is_flag=True, help="Print requests, tokens and estimated cost; send nothing.")
@click.option("--batch", "use_batch", is_flag=True, help="Use the Batch API (half price, up to 24 h).")
@click.option("--wait", is_flag=True, help="With --batch: poll until the batches finish and collect them.")
@registry_option
@click.pass_context
def answer_cmd(ctx: click.Context, config_path: str | None, dry_run: bool, use_batch: bool, wait: bool, **values) -> None:
    """Answer every prompt of --prompts with --model; already answered ones are not sent again.

    SOURCE is a file (JSONL with a text field, or plain lines), `sql:QUERY`,
    `synth:TASK`, or a registry source name. The key is read from OPENAI_API_KEY
    (or --api-key-env) and never stored.
    """
    from imitkit.collectors.teacher import run as runner
    from imitkit.collectors.teacher.config import load_options

    options = load_options(config_path, values)
    if dry_run:
        with open_registry(ctx, read_only=True) as reg:
            runner.dry_run(reg, options, use_batch)
        return
    with open_registry(ctx) as reg, _progress() as progress:
        tally = runner.answer(reg, options, use_batch, wait, progress)
    click.echo(runner.summary(tally, options.source or f"teacher:{options.model}"))


@teacher.group("batch")
def batch_group() -> None:
    """Batch API jobs submitted by `teacher answer --batch`."""


@batch_group.command("status")
@click.option("--refresh/--no-refresh", default=True, help="Ask the API for the current status first.")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@registry_option
@click.pass_context
def batch_status(ctx: click.Context, refresh: bool, api_key_env: str, as_json: bool) -> None:
    """List batches with their status (refreshing the open ones)."""
    import asyncio

    from imitkit.collectors.teacher import batch as batch_api
    from imitkit.collectors.teacher.client import api_key, make_client

    with open_registry(ctx, read_only=not refresh) as reg:
        rows = batch_api.open_batches(reg)
        todo = [b for b in rows if b["status"] not in batch_api.CLOSED]
        if refresh and todo:
            async def go():
                client = make_client(api_key(api_key_env, todo[0]["base_url"]), todo[0]["base_url"], 60)
                try:
                    await batch_api.reconcile(reg, client)  # settle submissions a killed run left
                    for b in batch_api.open_batches(reg):
                        if b["status"] not in batch_api.CLOSED:
                            await batch_api.refresh(reg, client, b)
                finally:
                    await client.close()
            asyncio.run(go())
            rows = batch_api.open_batches(reg)
        columns = ["id", "model", "source", "part", "n_requests", "status", "created_at", "collected_at"]
        table = [[b[c] for c in columns] for b in rows]
    if as_json:
        print_json([dict(zip(columns, r)) for r in table])
    else:
        print_table(columns, table)


@batch_group.command("collect")
@click.argument("ids", nargs=-1)
@click.option("--wait", is_flag=True, help="Poll until every batch finished, collecting as they do.")
@click.option("--poll-seconds", type=float, default=30.0, show_default=True)
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True)
@click.option("--prices", default=None, help="Price table YAML overriding the packaged one.")
@registry_option
@click.pass_context
def batch_collect(ctx: click.Context, ids: tuple[str, ...], wait: bool, poll_seconds: float, api_key_env: str,
                  prices: str | None) -> None:
    """Download and store the answers of finished batches (all open ones, or IDS)."""
    import asyncio

    from imitkit.collectors.teacher import batch as batch_api
    from imitkit.collectors.teacher.answer import Tally
    from imitkit.collectors.teacher.client import api_key
    from imitkit.collectors.teacher.prices import PriceTable
    from imitkit.collectors.teacher.run import collect_batches, summary
    from imitkit.registry.runs import recorded_run

    table = PriceTable.load(prices)
    with open_registry(ctx) as reg, recorded_run(reg, "teacher batch collect", {"ids": list(ids)}) as run:
        open_rows = [b for b in batch_api.open_batches(reg, list(ids) or None) if b["status"] not in batch_api.CLOSED]
        tally = Tally()
        base_url = open_rows[0]["base_url"] if open_rows else None
        left = asyncio.run(collect_batches(reg, run, list(ids) or None, api_key(api_key_env, base_url), base_url,
                                           60, wait, poll_seconds, table, tally)) if open_rows else []
        run.add(answered=tally.answered, failed=tally.failed)
    click.echo(summary(tally, "batches"))
    if left:
        click.echo(f"{len(left)} batch(es) still running: {', '.join(b['id'] for b in left)}; collect again later",
                   err=True)


@teacher.command("calls")
@click.option("--failed", is_flag=True, help="Only calls that failed.")
@click.option("--model", default=None)
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@registry_option
@click.pass_context
def calls(ctx: click.Context, failed: bool, model: str | None, limit: int, as_json: bool) -> None:
    """Recent teacher calls, or a per-model total with --limit 0."""
    where, params = ["1=1"], []
    if failed:
        where.append("status = 'failed'")
    if model:
        where.append("model = ?")
        params.append(model)
    with open_registry(ctx, read_only=True) as reg:
        if limit == 0:
            rows = reg.rows(f"""SELECT model, mode, count(*) FILTER (WHERE answered) AS answered,
                count(*) FILTER (WHERE truncated) AS truncated, count(*) FILTER (WHERE NOT answered) AS failed,
                sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens,
                round(sum(cost_usd), 6) AS cost_usd FROM teacher_calls WHERE {' AND '.join(where)}
                GROUP BY ALL ORDER BY model""", params)
        else:
            rows = reg.rows(f"""SELECT fingerprint, model, status, finish_reason, prompt_tokens, completion_tokens,
                round(cost_usd, 6) AS cost_usd, attempts, error, left(content, 60) AS content, created_at
                FROM teacher_calls WHERE {' AND '.join(where)} ORDER BY created_at DESC LIMIT {int(limit)}""", params)
    if as_json:
        print_json(rows)
    elif rows:
        print_table(list(rows[0]), [list(r.values()) for r in rows])
    else:
        click.echo("no teacher calls", err=True)


@teacher.command("synthesize")
@click.option("--task", required=True, help="Built-in task name (nq) or a task YAML file.")
@click.option("--seeds", required=True, type=click.Path(exists=True, dir_okay=False), help="Seed examples (JSONL).")
@click.option("--n", "n", type=click.IntRange(min=1), required=True, help="Accepted prompts wanted in total.")
@click.option("--shots", type=click.IntRange(min=1), default=None, help="Seed examples per request.")
@click.option("--model", required=True)
@click.option("--base-url", default=None)
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True)
@click.option("--temperature", type=float, default=1.0, show_default=True)
@click.option("--max-tokens", type=int, default=1024, show_default=True)
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--threshold", type=float, default=None, help="ROUGE-L at or above which a prompt is a near-duplicate.")
@click.option("--seed", "rng_seed", type=int, default=0, show_default=True, help="Random seed for choosing shots.")
@click.option("--max-calls", type=int, default=None, help="Stop after this many teacher calls.")
@click.option("--timeout", type=float, default=60.0, show_default=True)
@click.option("--max-attempts", type=int, default=6, show_default=True)
@click.option("--retry-base-delay", type=float, default=1.0, show_default=True)
@registry_option
@click.pass_context
def synthesize_cmd(ctx: click.Context, **values) -> None:
    """Ask the teacher, few-shot, for new prompts like random seeds; keep only novel, clean ones."""
    from imitkit.collectors.teacher.synthesize import SynthesisOptions, synthesize

    options = SynthesisOptions(**values)
    with open_registry(ctx) as reg, _progress() as progress:
        result = synthesize(reg, options, progress)
    click.echo(result.line())
