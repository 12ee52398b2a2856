"""The work behind ``teacher answer`` and ``teacher batch``: plan, estimate, send or submit, collect."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

import click

from imitkit.collectors.teacher import batch as batch_api
from imitkit.collectors.teacher.answer import DEFAULT_OUTPUT_ESTIMATE, Job, Tally, collect, raise_if_fatal
from imitkit.collectors.teacher.calllog import CallLog, answered_fingerprints, recover
from imitkit.collectors.teacher.client import RetryPolicy, api_key, make_client
from imitkit.collectors.teacher.config import AnswerOptions
from imitkit.collectors.teacher.errors import ConfigError
from imitkit.collectors.teacher.plan import plan_requests
from imitkit.collectors.teacher.prices import PriceTable
from imitkit.collectors.teacher.sources import load_prompts
from imitkit.registry.catalog import upsert_source
from imitkit.registry.runs import recorded_run


def _job(registry: Any, o: AnswerOptions, use_batch: bool) -> tuple[Job, list, int, PriceTable]:
    prices = PriceTable.load(o.prices)
    label, prompts = load_prompts(registry, o.prompts, o.text_field)
    done = set() if o.refresh else answered_fingerprints(registry) | batch_api.pending_fingerprints(registry)
    requests, cached = plan_requests(prompts, o.model, o.params(), o.system, o.samples, done)
    job = Job(o.model, o.params(), o.source or f"teacher:{o.model}", label, o.base_url,
              prices.price(o.model, batch=use_batch), mode="batch" if use_batch else "online")
    return job, requests, cached, prices


def dry_run(registry: Any, o: AnswerOptions, use_batch: bool) -> None:
    job, requests, cached, _ = _job(registry, o, use_batch)
    samples = sum(r.n for r in requests)
    prompt_tokens = sum(r.prompt_tokens for r in requests)
    out_tokens = job.max_output * samples
    price = job.price
    lines = [f"{len(requests):,} request(s) for {samples:,} sample(s) to {o.model}"
             f"{' (Batch API)' if use_batch else ''}; {cached:,} sample(s) already answered",
             f"prompt tokens (estimated, ~4 chars/token): {prompt_tokens:,}",
             f"answer tokens at most: {out_tokens:,} ({job.max_output} per sample"
             f"{'' if o.max_tokens else f', assumed: set --max-tokens'})"]
    if price.known:
        lines.append(f"estimated cost: ${price.cost(prompt_tokens, 0):.6f} for prompts + up to "
                     f"${price.cost(0, out_tokens):.6f} for answers = at most ${price.cost(prompt_tokens, out_tokens):.6f}")
    else:
        lines.append(f"no price for {o.model!r} in the price table (add it with --prices FILE): cost unknown")
    click.echo("\n".join(lines))


def answer(registry: Any, o: AnswerOptions, use_batch: bool, wait: bool, progress: Any) -> Tally:
    arguments = {k: v for k, v in asdict(o).items() if v is not None}  # holds no key: only its variable's name
    with recorded_run(registry, "teacher answer", arguments) as run:
        recovered = recover(registry, run)
        key = api_key(o.api_key_env, o.base_url)
        settle_submissions(registry, key, o.base_url, o.timeout)  # before pending requests are counted
        job, requests, cached, prices = _job(registry, o, use_batch)
        if o.budget_usd is not None and not job.price.known:
            raise ConfigError(f"--budget-usd needs a price for {o.model!r}: add it with --prices FILE")
        upsert_source(registry, job.source, format="teacher", origin="teacher", teacher_model=o.model)
        if use_batch:
            tally = asyncio.run(_submit(registry, run, job, requests, key, o, wait, prices, progress))
        else:
            log = CallLog(registry, run, batch_rows=o.commit_rows, flush_seconds=o.commit_seconds)
            policy = RetryPolicy(o.max_attempts, o.retry_base_delay)
            try:
                tally = asyncio.run(collect(job, requests, log, run, key=key, timeout=o.timeout,
                                            concurrency=o.concurrency, rpm=o.rpm, tpm=o.tpm,
                                            budget_usd=o.budget_usd, policy=policy, progress=progress,
                                            workers=o.worker_count()))
            finally:
                log.close()
        tally.cached = cached
        run.add(recovered=recovered, planned=tally.planned, answered=tally.answered, truncated=tally.truncated,
                failed=tally.failed, not_sent=tally.not_sent, cached=cached,
                prompt_tokens=tally.prompt_tokens, completion_tokens=tally.completion_tokens)
        run.counts["cost_usd"] = round(tally.cost, 6)
        raise_if_fatal(tally)
    return tally


async def _submit(registry: Any, run: Any, job: Job, requests: list, key: str, o: AnswerOptions, wait: bool,
                  prices: PriceTable, progress: Any) -> Tally:
    tally = Tally(planned=sum(r.n for r in requests))
    if not requests:
        return tally
    client = make_client(key, o.base_url, o.timeout)
    try:
        ids = await batch_api.submit(registry, run, job, requests, client, o.batch_max_bytes)
    finally:
        await client.close()
    click.echo(f"submitted {len(ids)} batch(es): {', '.join(ids)}", err=True)
    tally.stop_reason = None if wait else "submitted; collect with `imitkit teacher batch collect`"
    if wait:
        await collect_batches(registry, run, ids, key, o.base_url, o.timeout, wait=True, poll=2.0,
                              prices=prices, tally=tally)
    return tally


async def collect_batches(registry: Any, run: Any, ids: list[str] | None, key: str, base_url: str | None,
                          timeout: float, wait: bool, poll: float, prices: PriceTable, tally: Tally) -> list[dict]:
    """Refresh every open batch (or ``ids``); ingest the finished ones; with ``wait``, until none is open."""
    batches = [b for b in batch_api.open_batches(registry, ids) if b["status"] not in batch_api.CLOSED]
    client = make_client(key, base_url or (batches[0]["base_url"] if batches else None), timeout)
    try:
        if any(b["status"] == batch_api.SUBMITTING for b in batches):
            await batch_api.reconcile(registry, client)
            batches = [b for b in batch_api.open_batches(registry, None if ids is None else
                                                         [i for i in ids if not i.startswith("pending:")])
                       if b["status"] not in batch_api.CLOSED]
        while batches:
            for b in batches:
                await batch_api.refresh(registry, client, b)
                if b["status"] == "completed":
                    await batch_api.collect_batch(registry, run, client, b, prices, tally)
                    b["status"] = "collected"
            batches = [b for b in batches if b["status"] not in batch_api.CLOSED]
            if not wait or not batches:
                break
            await asyncio.sleep(poll)
    finally:
        await client.close()
    return batches


def settle_submissions(registry: Any, key: str, base_url: str | None, timeout: float) -> None:
    """Reconcile Batch API submissions a killed process left half-done (see ``batch.reconcile``)."""
    if not registry.scalar("SELECT count(*) FROM t_teacher_batch WHERE status = ?", [batch_api.SUBMITTING]):
        return

    async def go() -> tuple[int, int]:
        client = make_client(key, base_url, timeout)
        try:
            return await batch_api.reconcile(registry, client)
        finally:
            await client.close()

    adopted, abandoned = asyncio.run(go())
    click.echo(f"unfinished batch submissions from a stopped run: {adopted} found at the API and adopted, "
               f"{abandoned} never created (their requests will be sent)", err=True)


def summary(tally: Tally, source: str) -> str:
    lines = [f"{source}: {tally.line()}"]
    for error, count in tally.errors.most_common(5):
        lines.append(f"  {count:,} × {error}")
    if tally.failed:
        lines.append("  failed requests are retried by re-running the same command; see "
                     "`imitkit teacher calls --failed`")
    if tally.stop_reason:
        lines.append(f"  stopped: {tally.stop_reason}")
    return "\n".join(lines)


__all__ = ["answer", "dry_run", "collect_batches", "summary", "DEFAULT_OUTPUT_ESTIMATE"]
