"""Where curation reads its inputs and writes its verdicts, all set-based in DuckDB.

A step's input is every conversation that no earlier configured step dropped, with the
latest message version written by an earlier transforming step (else the raw messages).
Its to-do list is that input minus conversations whose verdict for this step already
has the current parameter fingerprint and was taken on the same messages (``input_hash``),
which makes runs incremental, resumable after an interrupt, and re-run on change.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import pyarrow as pa

from imitkit.registry.runs import utcnow
from imitkit.registry.writer import MESSAGE_TYPE, messages_array

VERDICT_SCHEMA = pa.schema([
    ("id", pa.string()), ("keep", pa.bool_()), ("reason", pa.string()), ("details", pa.string()),
    ("input_hash", pa.uint64()), ("messages", MESSAGE_TYPE),
])


def _in_list(names: Iterable[str]) -> str:
    names = list(names)
    return "(" + ", ".join("'" + n.replace("'", "''") + "'" for n in names) + ")" if names else "(NULL)"


def input_sql(upstream: list[str], transforming: list[str]) -> str:
    """Conversations still alive before a step, with the messages it should judge."""
    return f"""
    SELECT c.id, c.source, c.origin, c.teacher_model, c.metadata, c.rowid AS seq,
           coalesce(mv.messages, c.messages) AS messages
    FROM t_conversation c
    LEFT JOIN (
        SELECT m.conversation_id, m.messages FROM t_message_version m
        JOIN (SELECT conversation_id, max(version) AS version FROM t_message_version
              WHERE step IN {_in_list(transforming)} GROUP BY conversation_id) l
          ON l.conversation_id = m.conversation_id AND l.version = m.version
    ) mv ON mv.conversation_id = c.id
    WHERE c.id NOT IN (SELECT conversation_id FROM t_verdict WHERE step IN {_in_list(upstream)} AND NOT keep)
    """


def judged_sql(inputs: str, step: str, fingerprint: str) -> str:
    """The input with ``input_hash``, ``current`` (already judged as is) and the old verdict."""
    return f"""
    SELECT i.*, hash(i.messages) AS input_hash,
           d.conversation_id IS NOT NULL AS had_verdict,
           coalesce(d.fingerprint = '{fingerprint}' AND d.input_hash = hash(i.messages), FALSE) AS current,
           d.keep AS was_kept
    FROM ({inputs}) i
    LEFT JOIN (SELECT conversation_id, fingerprint, input_hash, keep FROM t_verdict WHERE step = '{step}') d
      ON d.conversation_id = i.id
    """


def verdict_table(verdicts: list[Any]) -> pa.Table:
    return pa.table({
        "id": pa.array([v.id for v in verdicts], pa.string()),
        "keep": pa.array([v.keep for v in verdicts], pa.bool_()),
        "reason": pa.array([v.reason for v in verdicts], pa.string()),
        "details": pa.array([json.dumps(v.details, ensure_ascii=False, default=str) if v.details else None
                             for v in verdicts], pa.string()),
        "input_hash": pa.array([v.input_hash for v in verdicts], pa.uint64()),
        "messages": messages_array([v.messages for v in verdicts]),
    }, schema=VERDICT_SCHEMA)


class VerdictWriter:
    """Replaces one step's verdicts (and message versions) for a batch, in one transaction."""

    def __init__(self, registry: Any, run_id: str, step: str, fingerprint: str, version: int):
        self.registry, self.run_id, self.step = registry, run_id, step
        self.fingerprint, self.version = fingerprint, version
        self._has_old: bool | None = None  # any stored verdicts or versions of this step to replace?

    def write(self, table: pa.Table, replace: bool = True, new_conversations: pa.Table | None = None) -> None:
        if table.num_rows == 0 and new_conversations is None:
            return
        con = self.registry.con
        now = utcnow()
        if replace and self._has_old is None:
            # A step's first run (or a --rerun) has nothing to replace: skip a DELETE per batch,
            # each a scan of the growing verdict table. A run writes each conversation once.
            self._has_old = bool(con.execute(
                "SELECT EXISTS (SELECT 1 FROM t_verdict WHERE step = ?) OR EXISTS "
                "(SELECT 1 FROM t_message_version WHERE step = ?)", [self.step, self.step]).fetchone()[0])
        with self.registry.transaction():
            con.register("_verdicts", table)
            try:
                if replace and self._has_old:
                    for t in ("t_verdict", "t_message_version"):
                        con.execute(f"DELETE FROM {t} WHERE step = ? AND conversation_id IN (SELECT id FROM _verdicts)",
                                    [self.step])
                con.execute("INSERT INTO t_verdict SELECT ?, ?, id, keep, reason, details, ?, input_hash, ? FROM _verdicts",
                            [self.run_id, self.step, self.fingerprint, now])
                con.execute("INSERT INTO t_message_version SELECT id, ?, ?, messages, ?, ? FROM _verdicts "
                            "WHERE messages IS NOT NULL", [self.step, self.version, self.run_id, now])
                if new_conversations is not None and new_conversations.num_rows:
                    con.register("_new_conv", new_conversations)
                    con.execute("""
                        INSERT INTO t_conversation (id, source, origin, teacher_model, messages, n_turns, n_chars,
                                                    metadata, run_id, created_at)
                        SELECT n.id, n.source, n.origin, n.teacher_model, n.messages, n.n_turns, n.n_chars,
                               n.metadata, ?, ?
                        FROM (SELECT * FROM _new_conv QUALIFY row_number() OVER (PARTITION BY id) = 1) n
                        WHERE NOT EXISTS (SELECT 1 FROM t_conversation c WHERE c.id = n.id)""", [self.run_id, now])
                    con.unregister("_new_conv")
            finally:
                con.unregister("_verdicts")

    def forget(self) -> None:
        """Drop every verdict and version of this step (``--rerun``)."""
        with self.registry.transaction() as con:
            con.execute("DELETE FROM t_verdict WHERE step = ?", [self.step])
            con.execute("DELETE FROM t_message_version WHERE step = ?", [self.step])
        self._has_old = False


def save_pipeline(registry: Any, steps: list[tuple[str, str, dict]]) -> None:
    """Record the configured pipeline: its steps' verdicts are the ones ``kept`` reflects."""
    now = utcnow()
    with registry.transaction() as con:
        con.execute("DELETE FROM t_curation_pipeline")
        for position, (name, fingerprint, params) in enumerate(steps):
            con.execute("INSERT INTO t_curation_pipeline VALUES (?, ?, ?, ?, ?)",
                        [name, position, fingerprint, json.dumps(params, default=str), now])
