"""Worker processes that send requests for ``teacher answer --workers N``.

One Python process tops out at a few hundred requests per second through the
``openai`` client (HTTP parsing and pydantic are CPU-bound), well below what a fast
endpoint serves at high concurrency. With ``--workers N`` the main process keeps
everything that must happen in one place: planning, the shared RPM/TPM limiter and
``Retry-After`` pauses, retries and backoff, the budget, the journal and the single
DuckDB writer. N worker processes each run an asyncio loop with their own
``AsyncOpenAI`` client and send the single attempts they are handed, returning the
raw body for the main process to parse and log.

Processes are started with ``spawn``: the parent holds an open DuckDB connection that
must never be forked. Messages travel in batches (one queue message per event-loop
tick, not per request) so the hop costs little next to an HTTP call. The API key is
handed over in memory, never on a command line or a file. A worker whose parent dies
(kill -9) exits on its own within a fraction of a second.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import signal
import threading
from typing import Any

from imitkit.collectors.teacher.client import Attempt, attempt, make_client
from imitkit.collectors.teacher.errors import TeacherError

START_METHOD = "spawn"  # never fork: the parent holds an open DuckDB connection
PARENT_CHECK_SECONDS = 0.2


class WorkerError(TeacherError):
    """A worker process could not start, or every worker died."""


def default_workers(concurrency: int) -> int:
    """One process keeps up below ~64 requests in flight; above, use every core we may run on."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores) if concurrency >= 64 else 1


class WorkerPool:
    """``await pool.send_attempt(body)`` sends one attempt from the least busy worker."""

    def __init__(self, n: int, key: str, base_url: str | None, timeout: float, concurrency: int):
        ctx = multiprocessing.get_context(START_METHOD)
        self.results = ctx.Queue()
        self.inboxes = [ctx.Queue() for _ in range(n)]
        per_worker = -(-concurrency // n)
        self.procs = [ctx.Process(target=worker_main, name=f"imitkit-teacher-worker-{i}", daemon=True,
                                  args=(i, self.inboxes[i], self.results, key, base_url, timeout, per_worker))
                      for i in range(n)]
        self.busy = [0] * n
        self.alive = [True] * n
        self.waiting: dict[int, tuple[asyncio.Future, int]] = {}
        self.outbox: list[list[tuple[int, dict]]] = [[] for _ in range(n)]
        self._ids = itertools.count()
        self._flush_due = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: asyncio.Future | None = None
        self._started = 0
        self._reader: threading.Thread | None = None
        self._watch: asyncio.Task | None = None

    async def start(self, timeout: float = 60.0) -> "WorkerPool":
        self._loop = asyncio.get_running_loop()
        self._ready = self._loop.create_future()
        for p in self.procs:
            p.start()
        self._reader = threading.Thread(target=self._read, name="imitkit-teacher-results", daemon=True)
        self._reader.start()
        self._watch = asyncio.create_task(self._watch_workers())
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except asyncio.TimeoutError as e:
            await self.close()
            raise WorkerError(f"worker processes did not start within {timeout:g} s") from e
        return self

    async def send_attempt(self, body: dict[str, Any]) -> Attempt:
        candidates = [i for i in range(len(self.procs)) if self.alive[i]]
        if not candidates:
            raise WorkerError("every worker process died; re-run to continue (answers received are kept)")
        w = min(candidates, key=self.busy.__getitem__)
        rid = next(self._ids)
        future = self._loop.create_future()
        self.waiting[rid] = (future, w)
        self.busy[w] += 1
        self.outbox[w].append((rid, body))
        if not self._flush_due:  # one message per worker per loop tick, however many requests
            self._flush_due = True
            self._loop.call_soon(self._flush)
        try:
            return await future
        finally:
            self.busy[w] -= 1

    def _flush(self) -> None:
        self._flush_due = False
        for w, items in enumerate(self.outbox):
            if items:
                self.inboxes[w].put(items)  # a feeder thread pickles and writes: never blocks the loop
                self.outbox[w] = []

    def _read(self) -> None:
        while True:
            message = self.results.get()
            if message is None:
                return
            self._loop.call_soon_threadsafe(self._deliver, message)

    def _deliver(self, message: tuple) -> None:
        kind, payload = message
        if kind == "ready":
            self._started += 1
            if self._started == len(self.procs) and not self._ready.done():
                self._ready.set_result(None)
            return
        for rid, outcome in payload:
            future, _ = self.waiting.pop(rid, (None, None))
            if future is not None and not future.done():
                future.set_result(Attempt(*outcome))

    async def _watch_workers(self) -> None:
        # A worker that dies takes its attempts with it: they come back as retryable errors.
        while True:
            await asyncio.sleep(0.5)
            for w, p in enumerate(self.procs):
                if self.alive[w] and not p.is_alive():
                    self.alive[w] = False
                    lost = Attempt("retry", error=f"worker process {w} exited (code {p.exitcode})")
                    for rid, (future, owner) in list(self.waiting.items()):
                        if owner == w and not future.done():
                            self.waiting.pop(rid)
                            future.set_result(lost)
            if not any(self.alive) and self._ready is not None and not self._ready.done():
                self._ready.set_exception(WorkerError("every worker process exited while starting"))

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        for inbox in self.inboxes:
            inbox.put(None)
        for p in self.procs:
            if p.pid is not None:
                await asyncio.to_thread(p.join, 5)
                if p.is_alive():
                    p.terminate()
        self.results.put(None)
        if self._reader is not None:
            await asyncio.to_thread(self._reader.join, 5)


def worker_main(index: int, inbox: Any, results: Any, key: str, base_url: str | None, timeout: float,
                concurrency: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us
    asyncio.run(_serve(index, inbox, results, key, base_url, timeout, concurrency))


async def _serve(index: int, inbox: Any, results: Any, key: str, base_url: str | None, timeout: float,
                 concurrency: int) -> None:
    loop = asyncio.get_running_loop()
    client = make_client(key, base_url, timeout, concurrency)
    parent = os.getppid()
    stop = asyncio.Event()
    tasks: set[asyncio.Task] = set()
    done: list[tuple[int, tuple]] = []

    def flush() -> None:
        results.put(("results", list(done)))
        done.clear()

    async def one(rid: int, body: dict) -> None:
        try:
            outcome = await attempt(client, body)
        except Exception as e:  # anything the client did not classify: the parent records it, no crash
            outcome = Attempt("fail", error=f"worker {index}: {type(e).__name__}: {e}")
        if not done:
            loop.call_soon(flush)
        done.append((rid, tuple(outcome)))

    def receive(items: list | None) -> None:
        if items is None:
            stop.set()
            return
        for rid, body in items:
            task = loop.create_task(one(rid, body))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    def read() -> None:
        while True:
            items = inbox.get()
            loop.call_soon_threadsafe(receive, items)
            if items is None:
                return

    threading.Thread(target=read, name="imitkit-teacher-inbox", daemon=True).start()
    results.put(("ready", index))
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), PARENT_CHECK_SECONDS)
        except asyncio.TimeoutError:
            if os.getppid() != parent:  # orphaned: the parent was killed; nobody is left to log answers
                os._exit(0)
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await client.close()
