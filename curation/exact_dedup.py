"""``exact_dedup``: one conversation per identical normalised text, decided in one SQL pass.

Runs on the messages the earlier steps produced. Conversations kept by an earlier run stay
kept, so an incremental run drops new copies of them; among new ones the keep policy
(first seen, longest, or a source priority list) picks the survivor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import pyarrow as pa

from imitkit.curation import store
from imitkit.curation.config import opt
from imitkit.curation.step import Step
from imitkit.curation.text import KEY_SQL, KEYS

POLICIES = ("first", "longest", "source_priority")

def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]::VARCHAR[]"


class ExactDedup(Step):
    name = "exact_dedup"

    @dataclass
    class Config:
        key: str = opt("conversation", "What is compared: the whole conversation, the first user turn, or the assistant turns.", KEYS)
        keep: str = opt("first", "Which copy survives: first seen (import order), longest, or by source_priority.", POLICIES)
        source_priority: list = opt([], "Sources in order of preference, for keep: source_priority.")
        ignore_case_and_spacing: bool = opt(True, "Compare lowercased text with runs of whitespace collapsed.")

    def order_sql(self) -> str:
        if self.config.keep == "longest":
            return "n_chars DESC, seq"
        if self.config.keep == "source_priority":
            return f"coalesce(list_position({_sql_list(self.config.source_priority)}, source), 1000000), seq"
        return "seq"

    def verdicts_sql(self) -> str:
        key = KEY_SQL[self.config.key]
        if self.config.ignore_case_and_spacing:
            key = f"lower(regexp_replace(trim({key}), '\\s+', ' ', 'g'))"
        return f"""
        WITH k AS (
            SELECT id, seq, source, input_hash, current, coalesce(was_kept, FALSE) AS was_kept,
                   md5({key}) AS key,
                   coalesce(list_sum(list_transform(messages, lambda m: length(m.content))), 0) AS n_chars
            FROM ({self.judged_sql()})
        ), r AS (
            SELECT *, first_value(id) OVER w AS keeper, count(*) OVER (PARTITION BY key) AS size
            FROM k WINDOW w AS (PARTITION BY key ORDER BY (current AND was_kept) DESC, {self.order_sql()})
        )
        SELECT id, id = keeper AS keep,
               CASE WHEN id <> keeper THEN 'exact duplicate' END AS reason,
               CASE WHEN size > 1 THEN CAST(json_object('cluster', key, 'kept', keeper, 'size', size) AS VARCHAR) END
                   AS details,
               input_hash,
               CAST(NULL AS STRUCT(role VARCHAR, content VARCHAR, tool_calls VARCHAR)[]) AS messages
        FROM r WHERE NOT current ORDER BY seq
        """

    def verdict_batches(self) -> Iterator[tuple[pa.Table, None]]:
        cursor = self.registry.con.cursor()
        try:
            table = cursor.sql(self.verdicts_sql()).to_arrow_table().cast(store.VERDICT_SCHEMA)
        finally:
            cursor.close()
        step = self.ctx.config.pipeline.batch_size * 4
        for offset in range(0, table.num_rows, step):
            yield table.slice(offset, step), None
