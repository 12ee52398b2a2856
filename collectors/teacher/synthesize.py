"""``teacher synthesize``: new task prompts from the teacher, kept only when novel and clean.

Each request shows the teacher ``shots`` random seed examples and asks for a numbered
list of new ones. A candidate is rejected, with its reason, when it copies an item of
any registered eval set (so the eval stays clean) or is a near-duplicate (ROUGE-L at
or above the threshold) of a seed or an accepted prompt. Shots come from a seeded RNG
and calls are looked up by fingerprint first, so a re-run reuses paid answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from imitkit.collectors.teacher.answer import Job, rows_for
from imitkit.collectors.teacher.calllog import CallLog, recover
from imitkit.collectors.teacher.client import CallResult, RetryPolicy, api_key, call, make_client
from imitkit.collectors.teacher.errors import AuthError, PromptSourceError
from imitkit.collectors.teacher.novelty import NoveltyIndex, tokens
from imitkit.collectors.teacher.plan import Request, estimate_prompt_tokens, fingerprint
from imitkit.collectors.teacher.prices import PriceTable
from imitkit.collectors.teacher.tasks import Task, load_task
from imitkit.registry.runs import recorded_run, utcnow

MIN_TOKENS = 3
GIVE_UP_ROUNDS = 5  # rounds in a row without a new prompt: the teacher is only repeating itself


@dataclass
class SynthesisOptions:
    task: str
    seeds: str
    n: int
    model: str
    shots: int | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = 1.0
    max_tokens: int = 1024
    concurrency: int = 8
    threshold: float | None = None
    rng_seed: int = 0
    max_calls: int | None = None
    timeout: float = 60.0
    max_attempts: int = 6
    retry_base_delay: float = 1.0


@dataclass
class SynthesisResult:
    task: str
    accepted: int = 0  # in the registry now, for this task
    new_accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    failed_calls: int = 0
    stop_reason: str | None = None

    def line(self) -> str:
        reasons = ", ".join(f"{v} {k}" for k, v in sorted(self.rejected.items())) or "none"
        text = (f"{self.task}: {self.new_accepted} new prompts accepted ({self.accepted} in total); rejected: "
                f"{reasons}; {self.calls} teacher calls ({self.failed_calls} failed)")
        return text + (f"; stopped: {self.stop_reason}" if self.stop_reason else "")


def read_seeds(path: str, field_name: str) -> list[str]:
    from imitkit.collectors.reading import BadRecord, iter_records
    from pathlib import Path

    seeds = []
    for record in iter_records(Path(path)):
        if isinstance(record, BadRecord) or not isinstance(record.value, dict):
            continue
        text = record.value.get(field_name)
        if isinstance(text, str) and text.strip():
            seeds.append(text.strip())
    if not seeds:
        raise PromptSourceError(f"{path}: no record has a non-empty {field_name!r} field")
    return seeds


def prompt_id(task: str, text: str) -> str:
    return "p:" + hashlib.blake2b(f"{task}\x00{' '.join(tokens(text))}".encode(), digest_size=12).hexdigest()


class Judge:
    """Decides each candidate: accepted, or rejected with a reason."""

    def __init__(self, registry: Any, task: Task, seeds: list[str], threshold: float):
        self.pool = NoveltyIndex(threshold)
        for s in seeds:
            self.pool.add(s, "seed")
        self.seen: set[str] = set()
        for pid, text, accepted in registry.con.execute(
                "SELECT id, text, accepted FROM t_teacher_prompt WHERE task = ?", [task.name]).fetchall():
            self.seen.add(pid)
            if accepted:
                self.pool.add(text, "accepted prompt")
        self.evals = NoveltyIndex(threshold)
        from imitkit.registry import evalsets

        for name in evalsets.names(registry):
            for item in evalsets.load_items(registry, name):
                self.evals.add(item.text, f"eval set {name} item {item.item_id}")

    def judge(self, text: str) -> tuple[bool, str | None, float | None, str | None]:
        if len(tokens(text)) < MIN_TOKENS:
            return False, "too short", None, None
        score, doc = self.evals.nearest(text)
        if doc is not None:
            return False, f"copy of {self.evals.labels[doc]}", score, self.evals.texts[doc]
        score, doc = self.pool.nearest(text)
        if doc is not None:
            return False, f"near-duplicate of a {self.pool.labels[doc]}", score, self.pool.texts[doc]
        self.pool.add(text, "accepted prompt")
        return True, None, score, None


def synthesize(registry: Any, o: SynthesisOptions, progress: Any = None) -> SynthesisResult:
    task = load_task(o.task)
    seeds = read_seeds(o.seeds, task.seed_field)
    shots = min(o.shots or task.shots, len(seeds))
    params = {"temperature": o.temperature, "max_tokens": o.max_tokens}
    result = SynthesisResult(task.name)
    arguments = {k: v for k, v in vars(o).items() if v is not None}
    with recorded_run(registry, "teacher synthesize", arguments) as run:
        recover(registry, run)
        judge = Judge(registry, task, seeds, o.threshold or task.threshold)
        accepted = registry.scalar("SELECT count(*) FROM t_teacher_prompt WHERE task = ? AND accepted", [task.name])
        answers = {fp: (content, finish) for fp, content, finish in registry.con.execute(
            "SELECT fingerprint, content, finish_reason FROM t_teacher_call WHERE status <> 'failed' AND source = ?",
            [f"synth:{task.name}"]).fetchall()}
        job = Job(o.model, params, f"synth:{task.name}", o.seeds, o.base_url,
                  PriceTable.load().price(o.model))
        rng = random.Random(o.rng_seed)
        key = api_key(o.api_key_env, o.base_url)
        log = CallLog(registry, run)
        policy = RetryPolicy(o.max_attempts, o.retry_base_delay)
        task_id = progress.add_task(f"synthesize {task.name}", total=o.n, stats="") if progress else None
        idle_rounds = 0
        try:
            while accepted < o.n and idle_rounds < GIVE_UP_ROUNDS:
                if o.max_calls is not None and result.calls >= o.max_calls:
                    result.stop_reason = f"--max-calls {o.max_calls} reached"
                    break
                k = min(o.concurrency, max(1, math.ceil((o.n - accepted) / task.per_request)))
                if o.max_calls is not None:
                    k = min(k, o.max_calls - result.calls)
                requests = []
                for _ in range(k):
                    messages = [{"role": "user", "content": task.render(rng.sample(seeds, shots), task.per_request)}]
                    fp = fingerprint(o.model, params, messages, 0)
                    requests.append(Request(fp, 0, messages, [0], [fp], estimate_prompt_tokens(messages)))
                replies = asyncio.run(_ask(job, requests, answers, key, o.timeout, policy, log, run, result))
                rows, before = [], accepted
                for request, (content, finish) in zip(requests, replies):
                    for text in task.parse(content or "", truncated=finish == "length"):
                        if accepted >= o.n:
                            break
                        pid = prompt_id(task.name, text)
                        if pid in judge.seen:
                            continue
                        judge.seen.add(pid)
                        ok, reason, score, nearest = judge.judge(text)
                        accepted += ok
                        if not ok:
                            label = reason.split(" of ")[0] if reason.startswith("copy") else reason.split(" of a ")[0]
                            result.rejected[label] = result.rejected.get(label, 0) + 1
                        rows.append((pid, text, ok, reason, score, nearest, request.key))
                _store(registry, run, task, o.model, rows)
                result.new_accepted += accepted - before
                idle_rounds = idle_rounds + 1 if accepted == before else 0
                if progress is not None:
                    progress.update(task_id, completed=accepted, stats=f"calls {result.calls}")
        finally:
            log.close()
        if idle_rounds >= GIVE_UP_ROUNDS:
            result.stop_reason = f"{GIVE_UP_ROUNDS} rounds without a new prompt (raise --temperature or add seeds)"
        result.accepted = accepted
        run.add(accepted=result.new_accepted, rejected=sum(result.rejected.values()), calls=result.calls)
    return result


async def _ask(job: Job, requests: list[Request], answers: dict, key: str, timeout: float, policy: RetryPolicy,
               log: CallLog, run: Any, result: SynthesisResult) -> list[tuple[str | None, str | None]]:
    client = make_client(key, job.base_url, timeout, len(requests))

    async def one(request: Request) -> tuple[str | None, str | None]:
        if request.key in answers:
            return answers[request.key]
        outcome: CallResult = await call(client, job.body(request), policy)
        result.calls += 1
        rows = rows_for(job, request, outcome, run)
        for r in rows:
            r.pop("conversation", None)  # the list of prompts is not training data
            r["conversation_id"] = None
        log.add(rows)
        if outcome.fatal:
            raise AuthError(f"the API refused the key ({outcome.error})")
        if rows[0]["status"] == "failed":
            result.failed_calls += 1
            return None, None
        answers[request.key] = (rows[0]["content"], rows[0]["finish_reason"])
        return answers[request.key]

    try:
        return list(await asyncio.gather(*(one(r) for r in requests)))
    finally:
        await client.close()
        log.flush()


def _store(registry: Any, run: Any, task: Task, model: str, rows: list[tuple]) -> None:
    if not rows:
        return
    now = utcnow()
    table = pa.table({
        "id": [r[0] for r in rows], "text": [r[1] for r in rows], "accepted": [r[2] for r in rows],
        "reason": [r[3] for r in rows], "score": pa.array([r[4] for r in rows], pa.float64()),
        "nearest": [r[5] for r in rows], "call": [r[6] for r in rows],
    })
    con = registry.con
    with registry.transaction():
        con.register("_prompts", table)
        try:
            con.execute("""INSERT INTO t_teacher_prompt SELECT p.id, ?, p.text, p.accepted, p.reason, p.score,
                p.nearest, ?, ?, p.call, ?, ? FROM _prompts p
                WHERE NOT EXISTS (SELECT 1 FROM t_teacher_prompt t WHERE t.id = p.id)""",
                        [task.name, task.version, model, run.id, now]).fetchall()
        finally:
            con.unregister("_prompts")

