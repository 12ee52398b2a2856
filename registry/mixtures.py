"""Token-budgeted selection of a mixture, inside DuckDB.

Each component, in spec order, orders its matching conversations by a seeded hash of
their id and takes the prefix whose running token sum comes nearest its share (the
conversation that crosses the share is kept when that lands closer), so every
component is within half a conversation of its share unless it runs out. A
conversation taken by an earlier component is not offered to a later one. Growing the
budget only extends each prefix, and the eval split is a seeded hash of the record a
conversation came from, so both are stable as budgets grow.

The hash is ``md5_number_upper``: unlike DuckDB's ``hash`` it is specified, so the same
spec selects the same conversations on every DuckDB version.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable

from imitkit.registry.errors import QueryError
from imitkit.registry.mixspec import MixError, MixSpec, SpecError
from imitkit.registry.runs import Run
from imitkit.registry.sql import check_read_only
from imitkit.registry.tokenizer import TokenizerSpec
from imitkit.registry.tokens import APPROX_METHOD, approx_query, approx_tokens_sql, count_missing

_TWO_64 = 18446744073709551616.0


@dataclass
class ComponentResult:
    label: str
    weight: float
    where: str
    only_kept: bool
    share: int | None  # tokens in the budget's unit; None with --budget all
    matched: int  # candidates left after earlier components
    available_tokens: int
    available_exact: bool
    conversations: int  # rows taken, repeats included
    unique_conversations: int
    tokens: int  # in the budget's unit
    total_tokens: int
    trainable_tokens: int
    shortfall: int
    repeats: int  # passes over the candidates (1 = no upsampling)
    unrenderable: int  # candidates the chat template could not render

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _kept(component: dict[str, Any]) -> str:
    return "AND c.kept" if component["only_kept"] else ""


def check_sql(registry: Any, spec: MixSpec) -> dict[str, int]:
    """Check every component's SQL on the registry and that it matches something; nothing is written."""
    matched = {}
    for comp in spec.normalized()["components"]:
        query = f"SELECT count(*) FROM conversations c WHERE ({comp['where']}) {_kept(comp)}"
        try:
            check_read_only(registry.con, query)
            if len(registry.con.extract_statements(query)) != 1:
                raise QueryError("the clause must be one expression, not several statements")
            matched[comp["label"]] = registry.scalar(query)
        except QueryError as e:
            raise SpecError(f"component {comp['label']!r}: bad SQL clause {comp['where']!r}: {e}") from e
        if not matched[comp["label"]]:
            which = "kept conversations" if comp["only_kept"] else "conversations"
            raise SpecError(f"component {comp['label']!r} matches no {which}: {comp['where']}")
    return matched


class Selector:
    """Selects members into the temp table ``_mix_members`` of the registry's connection."""

    def __init__(self, registry: Any, spec: MixSpec, tokenizer: TokenizerSpec | None, run: Run, *,
                 workers: int | None = None, progress: Callable[[int, int], None] | None = None):
        self.registry, self.spec, self.tokenizer, self.run = registry, spec, tokenizer, run
        self.workers, self.progress = workers, progress
        self.con = registry.con
        self.unit = "n_trainable_tokens" if spec.unit == "trainable" else "n_tokens"

    def select(self) -> list[ComponentResult]:
        self.con.execute("CREATE OR REPLACE TEMP TABLE _mix_selected (id VARCHAR, component VARCHAR, "
                         "comp_index INTEGER, rep INTEGER, ord UBIGINT, n_tokens BIGINT, n_trainable_tokens BIGINT, "
                         "has_tools BOOLEAN)")
        results = [self._component(i, comp) for i, comp in enumerate(self.spec.normalized()["components"])]
        self._assign_splits()
        if not self.registry.scalar("SELECT count(*) FROM _mix_members"):
            raise MixError("the mixture selected no conversation (do the matches have any assistant tokens?)")
        return results

    # -- one component -----------------------------------------------------------------
    def _component(self, index: int, comp: dict[str, Any]) -> ComponentResult:
        seed, (total, trainable) = self.spec.seed, approx_tokens_sql()
        where = (f"({comp['where']}) {_kept(comp)} AND NOT EXISTS "
                 "(SELECT 1 FROM _mix_selected s WHERE s.id = c.id)")
        # Two statements: with the window in the same query DuckDB evaluated the per-message
        # expressions after it, at twice the cost.
        self.con.execute(f"""CREATE OR REPLACE TEMP TABLE _mix_scan AS
            SELECT id, md5_number_upper(id || ':{seed}') AS ord, {total} AS approx_tokens,
                   {trainable} AS approx_trainable_tokens, has_tools
            FROM ({approx_query(where, "c.id, len(list_filter(c.messages, lambda msg: msg.tool_calls IS NOT NULL)) > 0 AS has_tools")})""")
        self.con.execute("CREATE OR REPLACE TEMP TABLE _mix_cand AS "
                         "SELECT *, row_number() OVER (ORDER BY ord, id) AS rank FROM _mix_scan")
        self.con.execute("DROP TABLE _mix_scan")
        n_cand = self.registry.scalar("SELECT count(*) FROM _mix_cand")
        share = None if self.spec.budget is None else round(self.spec.budget * comp["weight"])
        limit = self._count_exactly(n_cand, share) if self.tokenizer else n_cand
        tokens = self._tokens_sql(limit)
        u = self.unit
        available = self.registry.scalar(f"SELECT coalesce(sum({u}), 0) FROM ({tokens})")
        repeats = 1
        if share is not None and self.spec.allow_upsample and 0 < available < share and limit >= n_cand:
            repeats = math.ceil(share / available)
        cond = "TRUE" if share is None else f"cum - {u} / 2.0 <= {share}"
        self.con.execute(f"""INSERT INTO _mix_selected
            SELECT id, $label, {index}, rep, ord2, n_tokens, n_trainable_tokens, has_tools FROM (
                SELECT *, sum({u}) OVER (ORDER BY rep, ord2, id ROWS UNBOUNDED PRECEDING) AS cum FROM (
                    SELECT b.*, r.rep, CASE WHEN r.rep = 0 THEN b.ord
                                       ELSE md5_number_upper(b.id || ':{seed}:' || r.rep) END AS ord2
                    FROM ({tokens}) b, range({repeats}) r(rep)))
            WHERE {cond}""", {"label": comp["label"]})
        got = self.registry.rows(f"""SELECT count(*) AS n, count(DISTINCT id) AS uniq, coalesce(sum(n_tokens), 0) AS t,
            coalesce(sum(n_trainable_tokens), 0) AS tt FROM _mix_selected WHERE comp_index = {index}""")[0]
        usable = self.registry.scalar(f"SELECT count(*) FROM ({tokens})")
        got_unit = got["tt"] if self.spec.unit == "trainable" else got["t"]
        exhausted = got["uniq"] >= usable and limit >= n_cand
        shortfall = max(0, share - got_unit) if share is not None and exhausted and repeats == 1 else 0
        unrenderable = 0
        if self.tokenizer:
            unrenderable = self.registry.scalar(
                f"SELECT count(*) FROM _mix_cand m JOIN t_token_count t ON t.conversation_id = m.id "
                f"AND t.tokenizer_key = ? WHERE m.rank <= {limit} AND t.n_tokens IS NULL", [self.tokenizer.key])
        if limit < n_cand:  # only a prefix was counted exactly: estimate the rest
            approx_col = "approx_trainable_tokens" if self.spec.unit == "trainable" else "approx_tokens"
            available += self.registry.scalar(f"SELECT coalesce(sum({approx_col}), 0) FROM _mix_cand WHERE rank > {limit}")
        return ComponentResult(
            comp["label"], comp["weight"], comp["where"], comp["only_kept"], share, n_cand, int(available),
            limit >= n_cand or not self.tokenizer, got["n"], got["uniq"], int(got_unit), int(got["t"]), int(got["tt"]),
            int(shortfall), repeats, unrenderable)

    def _tokens_sql(self, limit: int) -> str:
        """Candidates (rank <= limit) with their token counts; zero-trainable ones are useless under that unit."""
        useful = "AND n_trainable_tokens > 0" if self.spec.unit == "trainable" else "AND n_tokens > 0"
        if not self.tokenizer:
            return (f"SELECT id, ord, rank, has_tools, approx_tokens AS n_tokens, "
                    f"approx_trainable_tokens AS n_trainable_tokens FROM _mix_cand WHERE TRUE {useful}")
        return (f"SELECT * FROM (SELECT m.id, m.ord, m.rank, m.has_tools, t.n_tokens::BIGINT AS n_tokens, "
                f"t.n_trainable_tokens::BIGINT AS n_trainable_tokens FROM _mix_cand m JOIN t_token_count t "
                f"ON t.conversation_id = m.id AND t.tokenizer_key = '{self.tokenizer.key}' WHERE m.rank <= {limit}) "
                f"WHERE n_tokens IS NOT NULL {useful}")

    def _count_exactly(self, n_cand: int, share: int | None) -> int:
        """Count exactly only the prefix a share can reach: estimate it, count it, grow it if short."""
        if share is None or n_cand == 0:
            limit = n_cand
        else:
            approx = "approx_trainable_tokens" if self.spec.unit == "trainable" else "approx_tokens"
            reach = self.registry.scalar(f"""SELECT min(rank) FROM (SELECT rank, sum({approx}) OVER
                (ORDER BY rank ROWS UNBOUNDED PRECEDING) AS cum FROM _mix_cand) WHERE cum >= {share} * 1.1""")
            limit = n_cand if reach is None else min(n_cand, reach + 16)
        while True:
            count_missing(self.registry, self.tokenizer, self.run, f"SELECT id FROM _mix_cand WHERE rank <= {limit}",
                          workers=self.workers, progress=self.progress)
            if limit >= n_cand:
                return limit
            exact = self.registry.scalar(f"SELECT coalesce(sum({self.unit}), 0) FROM ({self._tokens_sql(limit)})")
            if exact > share:
                return limit
            limit = min(n_cand, limit * 2)

    # -- splits ------------------------------------------------------------------------
    def _assign_splits(self) -> None:
        fraction, seed = self.spec.eval_fraction, self.spec.seed
        # The record a conversation was first imported from: the parts of one record
        # (HC3 answers, OASST paths) share it, so they land in the same split.
        self.con.execute(f"""CREATE OR REPLACE TEMP TABLE _mix_members AS
            WITH occ AS (
                SELECT conversation_id AS id, source || chr(31) || file || chr(31) || record_index::VARCHAR AS key,
                       created_at, min(created_at) OVER (PARTITION BY conversation_id) AS first
                FROM occurrences WHERE conversation_id IN (SELECT id FROM _mix_selected)),
            grp AS (SELECT id, min(key) AS record FROM occ WHERE created_at = first GROUP BY id),
            s AS (SELECT s.*, CASE WHEN {fraction} > 0 AND
                         md5_number_upper(coalesce(g.record, s.id) || ':eval:{seed}')::DOUBLE / {_TWO_64} < {fraction}
                         THEN 'eval' ELSE 'train' END AS split
                  FROM _mix_selected s LEFT JOIN grp g USING (id))
            SELECT *, row_number() OVER (PARTITION BY split ORDER BY rep, ord, id) - 1 AS position
            FROM s WHERE split = 'train' OR rep = 0""")


def token_method(tokenizer: TokenizerSpec | None) -> dict[str, Any]:
    """What the counts in a mixture mean; part of its fingerprint."""
    if tokenizer is None:
        return {"exact": False, "method": APPROX_METHOD}
    return {"exact": True, "tokenizer_key": tokenizer.key, "trainable_method": tokenizer.trainable_method}
