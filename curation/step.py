"""The step base class: it owns the loop over the to-do list, the writes, counting and timing.

Leaf steps implement ``judge(rows)`` (a batch of conversations -> verdicts), or, when a
decision needs every conversation at once (dedup), override ``verdict_batches``.
A drop always carries a reason string.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from imitkit.curation import store
from imitkit.curation.config import CurationConfig, fingerprint
from imitkit.curation.errors import StepError


@dataclass(slots=True)
class Verdict:
    id: str
    keep: bool
    reason: str | None = None
    details: dict | None = None
    messages: list[dict] | None = None  # a new version of the messages (transforming steps)
    input_hash: int | None = None

    def __post_init__(self) -> None:
        if not self.keep and not self.reason:
            raise StepError(f"a drop of {self.id} carries no reason")


@dataclass
class StepResult:
    step: str
    judged: int = 0
    kept: int = 0
    dropped: int = 0
    seconds: float = 0.0
    reasons: Counter = field(default_factory=Counter)
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.judged / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Context:
    registry: Any
    run_id: str
    config: CurationConfig
    pipeline: list[str]           # configured steps, canonical order
    rerun: bool = False
    progress: Any = None          # a rich Progress, or None


class Step:
    name: ClassVar[str]
    Config: ClassVar[type]
    transforms: ClassVar[bool] = False   # writes new message versions
    parallel: ClassVar[bool] = False     # judge() is pure per-text work that may run in worker processes
    logic_version: ClassVar[int] = 1     # bump when a change in code should re-judge everything

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.config = ctx.config.section(self.name)
        self.registry = ctx.registry
        self.setup()

    @classmethod
    def for_worker(cls, config: CurationConfig) -> "Step":
        """An instance without registry or context, for judging in a worker process."""
        step = cls.__new__(cls)
        step.ctx, step.registry, step.config = None, None, config.section(cls.name)
        step.setup()
        return step

    # -- hooks ---------------------------------------------------------------------------
    def setup(self) -> None:
        """Compile patterns, prepare detectors: per-process state built from ``self.config``."""

    def skip_reason(self) -> str | None:
        """Why this step has nothing to do now (e.g. no eval set registered), or None."""
        return None

    def extra_fingerprint(self) -> Any:
        """Inputs other than the config that change the verdicts (eval set contents…)."""
        return None

    def judge(self, rows: list[dict]) -> list[Verdict]:
        raise NotImplementedError

    # -- derived -------------------------------------------------------------------------
    @property
    def params(self) -> dict:
        return dataclasses.asdict(self.config)

    @property
    def fingerprint(self) -> str:
        return fingerprint([self.name, self.logic_version, self.params, self.extra_fingerprint()])

    @property
    def version(self) -> int:
        from imitkit.curation.steps import STEP_NAMES

        return (STEP_NAMES.index(self.name) + 1) * 10

    def input_sql(self) -> str:
        from imitkit.curation.steps import step_class

        upstream = self.ctx.pipeline[: self.ctx.pipeline.index(self.name)] if self.name in self.ctx.pipeline else []
        transforming = [s for s in upstream if step_class(s).transforms]
        return store.input_sql(upstream, transforming)

    def judged_sql(self) -> str:
        return store.judged_sql(self.input_sql(), self.name, self.fingerprint)

    # -- the loop ------------------------------------------------------------------------
    def batches(self, where: str = "NOT current", columns: str = "*") -> Iterator[pa.RecordBatch]:
        """Batches of input rows, read on a second cursor while we write on the first."""
        cursor = self.registry.con.cursor()
        try:
            reader = cursor.sql(f"SELECT {columns} FROM ({self.judged_sql()}) WHERE {where}").to_arrow_reader(
                self.ctx.config.pipeline.batch_size)
            yield from reader
        finally:
            cursor.close()

    def judge_batch(self, batch: pa.RecordBatch) -> pa.Table:
        """``judge`` one Arrow batch into a verdict table: what worker processes send back.

        Arrow in both directions, because pickling the rows and verdicts as Python objects
        (and converting them in this process) cost more than the judging of cheap steps.
        """
        verdicts = self.judge(batch.to_pylist())
        hashes = dict(zip(batch.column("id").to_pylist(), batch.column("input_hash").to_pylist()))
        for v in verdicts:
            v.input_hash = hashes[v.id]
        return store.verdict_table(verdicts)

    def verdict_batches(self) -> Iterator[tuple[pa.Table, pa.Table | None]]:
        pipeline = self.ctx.config.pipeline
        parallel = self.parallel and pipeline.workers > 1 and self.count_todo() >= pipeline.parallel_min
        tables = judge_in_workers(self, self.batches(), pipeline.workers) if parallel else map(
            self.judge_batch, self.batches())
        for table in tables:
            yield table, self.new_conversations()

    def new_conversations(self) -> pa.Table | None:
        return None

    def count_todo(self) -> int:
        if getattr(self, "_todo", None) is None:
            self._todo = self.registry.scalar(f"SELECT count(*) FROM ({self.judged_sql()}) WHERE NOT current")
        return self._todo

    def run(self) -> StepResult:
        result = StepResult(self.name)
        started = time.monotonic()
        self._todo = None
        result.skipped = self.skip_reason()
        if result.skipped:
            return result
        writer = store.VerdictWriter(self.registry, self.ctx.run_id, self.name, self.fingerprint, self.version)
        if self.ctx.rerun:
            writer.forget()
        self._todo = None
        progress = self.ctx.progress
        task = progress.add_task(self.name, total=self.count_todo()) if progress is not None else None
        try:
            for table, new_conv in self.verdict_batches():
                writer.write(table, new_conversations=new_conv)
                kept = int(pc.sum(table["keep"]).as_py() or 0)
                result.judged += table.num_rows
                result.kept += kept
                result.dropped += table.num_rows - kept
                drops = table.filter(pc.invert(table["keep"]))["reason"]
                result.reasons.update({r["values"]: r["counts"] for r in pc.value_counts(drops).to_pylist()})
                if task is not None:
                    progress.update(task, advance=table.num_rows)
        finally:
            result.seconds = time.monotonic() - started
        return result


_WORKER_STEPS: dict[tuple[str, str], Step] = {}


def _judge_job(cls: type, config: CurationConfig, fingerprint_: str, batch: pa.RecordBatch) -> pa.Table:
    step = _WORKER_STEPS.get((cls.name, fingerprint_))
    if step is None:
        step = _WORKER_STEPS[(cls.name, fingerprint_)] = cls.for_worker(config)
    return step.judge_batch(batch)


def process_pool(workers: int):
    """A pool whose workers are forked from a forkserver with the curation modules preloaded.

    Not forked from this process, which holds an open DuckDB database and its threads; and
    not spawned, which re-imports numpy and friends in every worker of every pool.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["imitkit.curation.steps", "imitkit.curation.minhash"])
    return ProcessPoolExecutor(workers, mp_context=ctx)


def judge_in_workers(step: Step, batches: Iterator[pa.RecordBatch], workers: int) -> Iterator[pa.Table]:
    """``judge_batch`` over batches on worker processes, in order, while this process reads and writes."""
    with process_pool(workers) as pool:
        pending: list = []
        for batch in batches:
            pending.append(pool.submit(_judge_job, type(step), step.ctx.config, step.fingerprint, batch))
            if len(pending) > workers:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()
