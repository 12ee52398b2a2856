"""The call log: every answer is journaled the moment it arrives, then committed with its conversation.

Crash safety has two layers. Each finished request is appended to a journal segment
(one ``write`` of one JSON line: a killed process loses nothing it had received).
Rows are then committed in batches: the ``teacher_calls`` rows and the conversations
made from them in one transaction, through the same writer SQL as imports. The next
run first replays journal segments that dead processes left behind; inserts anti-join,
so a segment replayed twice adds nothing twice.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pyarrow as pa

from imitkit.registry.records import Conversation
from imitkit.registry.runs import Run
from imitkit.registry.writer import ConversationWriter

JOURNAL_DIR = "teacher-journal"
CALL_COLUMNS = (
    "fingerprint", "request_id", "sample_index", "model", "base_url", "parameters", "messages", "status",
    "content", "raw_response", "finish_reason", "prompt_tokens", "completion_tokens", "cost_usd", "latency_s",
    "attempts", "http_status", "error", "mode", "batch_id", "source", "conversation_id", "run_id", "created_at",
)
_TYPES = {"sample_index": pa.int32(), "prompt_tokens": pa.int64(), "completion_tokens": pa.int64(),
          "cost_usd": pa.float64(), "latency_s": pa.float64(), "attempts": pa.int32(), "http_status": pa.int32()}
CALL_SCHEMA = pa.schema([(c, _TYPES.get(c, pa.string())) for c in CALL_COLUMNS])

# An answer already stored is never stored again; a failure is stored once per attempt-run.
_INSERT_CALLS = f"""
INSERT INTO t_teacher_call ({", ".join(CALL_COLUMNS)})
SELECT {", ".join("b." + c if c != "created_at" else "CAST(b.created_at AS TIMESTAMP)" for c in CALL_COLUMNS)}
FROM (SELECT * FROM _batch_calls QUALIFY row_number() OVER (
        PARTITION BY fingerprint, CASE WHEN status = 'failed' THEN created_at END ORDER BY status DESC) = 1) b
WHERE NOT EXISTS (
    SELECT 1 FROM t_teacher_call t WHERE t.fingerprint = b.fingerprint
      AND (t.status <> 'failed' OR (b.status = 'failed' AND t.created_at = CAST(b.created_at AS TIMESTAMP))))
"""


class _SharedTransaction:
    """Lets :class:`ConversationWriter` write inside the call log's own transaction."""

    def __init__(self, registry: Any):
        self.con = registry.con

    def transaction(self) -> Any:
        return nullcontext(self.con)


def answered_fingerprints(registry: Any) -> set[str]:
    rows = registry.con.execute("SELECT DISTINCT fingerprint FROM t_teacher_call WHERE status <> 'failed'").fetchall()
    return {r[0] for r in rows}


class CallLog:
    def __init__(self, registry: Any, run: Run, batch_rows: int = 512, flush_seconds: float = 1.0):
        self.registry = registry
        self.run = run
        self.batch_rows = batch_rows
        self.flush_seconds = flush_seconds
        self.dir = Path(registry.root) / JOURNAL_DIR
        self.dir.mkdir(exist_ok=True)
        self.rows: list[dict[str, Any]] = []
        self.segment = 0
        self.fd: int | None = None
        self.path: Path | None = None
        self.last_flush = time.monotonic()
        self.stored = 0
        self._open_segment()

    def _open_segment(self) -> None:
        self.segment += 1
        safe = self.run.id.replace(":", "_")
        self.path = self.dir / f"{safe}-{self.segment:05d}.jsonl"
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def add(self, rows: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows).encode("utf-8")
        os.write(self.fd, data)  # one write: whole lines reach the OS before anything else happens
        self.rows.extend(rows)

    @property
    def due(self) -> bool:
        return bool(self.rows) and (len(self.rows) >= self.batch_rows
                                    or time.monotonic() - self.last_flush >= self.flush_seconds)

    def swap(self) -> tuple[list[dict[str, Any]], Path]:
        """Hand the buffered rows and their segment to a flush; later rows go to a new segment."""
        rows, path = self.rows, self.path
        os.close(self.fd)
        self.rows = []
        self._open_segment()
        self.last_flush = time.monotonic()
        return rows, path

    def commit(self, rows: list[dict[str, Any]], segment: Path | None) -> int:
        stored = write_rows(self.registry, self.run, rows)
        if segment is not None:
            segment.unlink(missing_ok=True)
        self.stored += stored
        return stored

    def flush(self) -> int:
        rows, path = self.swap()
        return self.commit(rows, path)

    def close(self) -> None:
        self.flush()
        os.close(self.fd)
        self.path.unlink(missing_ok=True)


def recover(registry: Any, run: Run) -> int:
    """Commit what journal segments of killed runs hold; return how many answers that saved."""
    folder = Path(registry.root) / JOURNAL_DIR
    if not folder.is_dir():
        return 0
    saved = 0
    for path in sorted(folder.glob("*.jsonl")):
        rows = []
        for line in path.read_bytes().splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue  # a line cut by power loss: its request was never paid for as far as we know
        saved += write_rows(registry, run, rows)
        path.unlink()
    return saved


def write_rows(registry: Any, run: Run, rows: list[dict[str, Any]], also: Any = None) -> int:
    """Insert call rows and their conversations in one transaction; return new answers stored.

    ``also(con)``, when given, runs inside the same transaction (e.g. marking a batch collected).
    """
    if not rows and also is None:
        return 0
    con = registry.con
    calls = pa.table({c: [r.get(c) for r in rows] for c in CALL_COLUMNS}, schema=CALL_SCHEMA)
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r.get("conversation"):
            by_source[r["source"]].append(r)
    shared = _SharedTransaction(registry)
    with registry.transaction():
        con.register("_batch_calls", calls)
        try:
            before = con.execute("SELECT count(*) FROM t_teacher_call WHERE status <> 'failed'").fetchall()[0][0]
            con.execute(_INSERT_CALLS).fetchall()
            after = con.execute("SELECT count(*) FROM t_teacher_call WHERE status <> 'failed'").fetchall()[0][0]
        finally:
            con.unregister("_batch_calls")
        for source, members in by_source.items():
            writer = ConversationWriter(shared, run, source, batch_size=len(members) + 1)
            for r in members:
                c = r["conversation"]
                conv = Conversation(c["messages"], "teacher", r["model"], c["metadata"], r["fingerprint"],
                                    r["sample_index"])
                writer.add(conv, c["file"], c["record_index"])
            writer.flush()
        if also is not None:
            also(con)
    return after - before
