"""``teacher answer``: send every prompt not yet answered, concurrently, within limits.

Concurrent senders share one rate limiter and one budget; each finished request goes
to the call log at once (journal) and into the registry in batches committed by a
background flusher, which also drives the progress bar. With ``--workers N`` only the
HTTP attempts move to N processes (``workers.py``); everything else stays here.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from imitkit.collectors.teacher.calllog import CallLog
from imitkit.collectors.teacher.client import CallResult, RetryPolicy, call
from imitkit.collectors.teacher.errors import AuthError
from imitkit.collectors.teacher.limits import Budget, RateLimiter
from imitkit.collectors.teacher.plan import Request, estimate_tokens
from imitkit.collectors.teacher.prices import Price
from imitkit.registry.runs import Run, utcnow

DEFAULT_OUTPUT_ESTIMATE = 1024  # answer tokens assumed per sample when --max-tokens is not given


@dataclass
class Job:
    """Everything a request needs besides its prompt."""

    model: str
    params: dict[str, Any]
    source: str
    label: str  # provenance "file" of the prompts
    base_url: str | None
    price: Price
    mode: str = "online"

    @property
    def max_output(self) -> int:
        return int(self.params.get("max_tokens") or DEFAULT_OUTPUT_ESTIMATE)

    def body(self, request: Request) -> dict[str, Any]:
        body = {"model": self.model, "messages": request.messages, **self.params}
        if request.n > 1:
            body["n"] = request.n
        return body

    def worst_cost(self, request: Request) -> float:
        return self.price.cost(request.prompt_tokens, self.max_output * request.n)


@dataclass
class Tally:
    planned: int = 0  # samples to get this run
    cached: int = 0  # samples already answered before this run
    answered: int = 0
    truncated: int = 0
    failed: int = 0
    not_sent: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    errors: Counter = field(default_factory=Counter)
    stop_reason: str | None = None

    def count(self, rows: list[dict[str, Any]]) -> None:
        """Add call-log rows (one per sample, online or from a batch) to the totals."""
        for r in rows:
            if r["status"] == "failed":
                self.failed += 1
                self.errors[(r["error"] or "?")[:160]] += 1
            else:
                self.answered += 1
                self.truncated += r["status"] == "truncated"
            self.prompt_tokens += r["prompt_tokens"]
            self.completion_tokens += r["completion_tokens"]
            self.cost += r["cost_usd"]

    def line(self) -> str:
        text = (f"{self.answered:,} answered ({self.truncated:,} truncated), {self.failed:,} failed, "
                f"{self.cached:,} already answered, {self.not_sent:,} not sent; "
                f"{self.prompt_tokens:,} prompt + {self.completion_tokens:,} completion tokens, ${self.cost:.4f}")
        return text


def rows_for(job: Job, request: Request, result: CallResult, run: Run) -> list[dict[str, Any]]:
    """The call-log rows (one per sample) for a finished request, with their conversations."""
    now = utcnow().isoformat()
    base = {"request_id": request.key, "model": job.model, "base_url": job.base_url,
            "parameters": _dumps(job.params), "messages": _dumps(request.messages), "latency_s": result.latency,
            "attempts": result.attempts, "http_status": result.http_status, "mode": job.mode,
            "source": job.source, "run_id": run.id, "created_at": now}
    body = result.body
    if body is None:
        return [{**base, "fingerprint": fp, "sample_index": s, "status": "failed", "error": result.error,
                 "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
                for fp, s in zip(request.fingerprints, request.samples)]
    choices = sorted(body.get("choices") or [], key=lambda c: c.get("index", 0))
    usage = body.get("usage") or {}
    texts = [_content(c) for c in choices[: request.n]]
    prompt_tokens = int(usage.get("prompt_tokens") or request.prompt_tokens)
    total_out = int(usage.get("completion_tokens") or sum(estimate_tokens(t or "") for t in texts))
    shares = _split(total_out, [len(t or "") for t in texts])
    rows = []
    for i, (fp, sample) in enumerate(zip(request.fingerprints, request.samples)):
        row = {**base, "fingerprint": fp, "sample_index": sample}
        text = texts[i] if i < len(texts) else None
        if text is None:
            reason = "the response has no choice for this sample" if i >= len(texts) else "the answer has no text"
            rows.append({**row, "status": "failed", "error": reason, "prompt_tokens": 0, "completion_tokens": 0,
                         "cost_usd": 0.0})
            continue
        choice = choices[i]
        p_tok = prompt_tokens if i == 0 else 0  # n samples share one prompt: bill it once
        finish = choice.get("finish_reason")
        messages = request.messages + [{"role": "assistant", "content": text}]
        canon = [{"role": m["role"], "content": m["content"], "tool_calls": None} for m in messages]
        rows.append({**row, "status": "truncated" if finish == "length" else "ok", "content": text,
                     "raw_response": _dumps({**body, "choices": [choice]}), "finish_reason": finish,
                     "prompt_tokens": p_tok, "completion_tokens": shares[i],
                     "cost_usd": job.price.cost(p_tok, shares[i]),
                     "conversation": {"messages": canon, "file": job.label, "record_index": request.prompt_index,
                                      "metadata": {"teacher_call": fp, "finish_reason": finish,
                                                   "truncated": finish == "length"}}})
    from imitkit.registry.records import conversation_id
    for r in rows:
        if r.get("conversation"):
            r["conversation_id"] = conversation_id(r["conversation"]["messages"])
    return rows


def _content(choice: dict[str, Any]) -> str | None:
    message = choice.get("message") or {}
    content = message.get("content")
    return content if isinstance(content, str) and content != "" else None


def _split(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` tokens in proportion to ``weights``; the parts sum to ``total``."""
    if not weights:
        return []
    weight = sum(weights) or len(weights)
    parts = [total * (w or (0 if sum(weights) else 1)) // weight for w in weights]
    parts[0] += total - sum(parts)
    return parts


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Collector:
    """Runs the requests of one job to completion, a budget stop, or an interrupt."""

    def __init__(self, job: Job, client: Any, log: CallLog, run: Run, *, concurrency: int,
                 limiter: RateLimiter, budget: Budget, policy: RetryPolicy, progress: Any = None):
        self.job, self.client, self.log, self.run = job, client, log, run
        self.concurrency = concurrency
        self.limiter, self.budget, self.policy = limiter, budget, policy
        self.progress = progress
        self.tally = Tally()
        self._stop = False
        self._task_id = None

    async def collect(self, requests: list[Request]) -> Tally:
        self.tally.planned = sum(r.n for r in requests)
        if self.progress is not None:
            self._task_id = self.progress.add_task(f"{self.job.model}", total=self.tally.planned, stats="")
        pending = iter(requests)
        workers = [asyncio.create_task(self._worker(pending)) for _ in range(max(1, self.concurrency))]
        flusher = asyncio.create_task(self._flusher())
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
        self.tally.not_sent += sum(r.n for r in pending)
        self._show()
        return self.tally

    async def _worker(self, pending: Any) -> None:
        job = self.job
        for request in pending:
            if self._stop:
                self.tally.not_sent += request.n
                continue
            reserved = job.worst_cost(request)
            if not self.budget.reserve(reserved):
                self._stop = True
                self.tally.stop_reason = (f"budget reached: ${self.budget.spent:.4f} spent of "
                                          f"${self.budget.limit:g}; re-run to continue")
                self.tally.not_sent += request.n
                continue
            estimate = request.prompt_tokens + job.max_output * request.n
            result = await call(self.client, job.body(request), self.policy, self.limiter, estimate)
            rows = rows_for(job, request, result, self.run)
            self.log.add(rows)
            self.tally.count(rows)
            self.budget.settle(reserved, sum(r["cost_usd"] for r in rows))
            self.limiter.settle(estimate, sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows))
            if result.fatal:
                self._stop = True
                self.tally.stop_reason = f"the API refused the key ({result.error}); nothing more was sent"

    async def _flusher(self) -> None:
        # Commits run in a thread so the event loop keeps sending while DuckDB writes.
        while True:
            await asyncio.sleep(0.1)
            self._show()
            if self.log.due:
                rows, segment = self.log.swap()
                await asyncio.shield(asyncio.to_thread(self.log.commit, rows, segment))

    def _show(self) -> None:
        if self.progress is None or self._task_id is None:
            return
        t = self.tally
        stats = (f"done {t.answered:,} failed {t.failed:,} tokens {t.prompt_tokens + t.completion_tokens:,} "
                 f"${t.cost:.4f}")
        self.progress.update(self._task_id, completed=t.answered + t.failed, stats=stats)


async def collect(job: Job, requests: list[Request], log: CallLog, run: Run, *, key: str, timeout: float,
                  concurrency: int, rpm: float | None, tpm: float | None, budget_usd: float | None,
                  policy: RetryPolicy, progress: Any = None, workers: int = 1) -> Tally:
    """Send ``requests``; with ``workers`` > 1 the HTTP attempts run in that many processes."""
    from imitkit.collectors.teacher.client import make_client
    from imitkit.collectors.teacher.workers import WorkerPool

    if workers > 1 and requests:
        client = await WorkerPool(workers, key, job.base_url, timeout, concurrency).start()
    else:
        client = make_client(key, job.base_url, timeout, concurrency)
    try:
        collector = Collector(job, client, log, run, concurrency=concurrency, limiter=RateLimiter(rpm, tpm),
                              budget=Budget(budget_usd), policy=policy, progress=progress)
        return await collector.collect(requests)
    finally:
        await client.close()


def raise_if_fatal(tally: Tally) -> None:
    if tally.stop_reason and "refused the key" in tally.stop_reason:
        raise AuthError(tally.stop_reason + " (check OPENAI_API_KEY or --api-key-env)")
