"""Token counts: a documented approximation in SQL, and exact counts cached in the registry.

Approximation (no tokenizer): characters divided by a per-language characters-per-token
factor (4.2 for English down to 1.3 for Chinese), plus a fixed chat-template overhead
per message. When a conversation has no language yet (before curation) its CJK share is
estimated from UTF-8 bytes per character, so Chinese data is not counted as English.
Measured against BPE tokenizers this errs a few percent per document and well under
one percent on sums of a thousand documents. Every output built on it says so.

Exact counts run in worker processes in batches, are written per batch (an interrupted
count resumes where it stopped), and only conversations without a count are counted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import pyarrow as pa

from imitkit.registry.runs import Run, utcnow
from imitkit.registry.tokenizer import Counter, TokenizerSpec, count_in_worker, init_worker

APPROX_METHOD = "approx-v1: characters / per-language characters-per-token + 4 tokens per message"
CHARS_PER_TOKEN = {
    "en": 4.2, "fr": 3.8, "es": 3.9, "pt": 3.8, "it": 3.7, "de": 3.6, "nl": 3.6, "sv": 3.5, "pl": 3.0,
    "ru": 3.0, "uk": 2.9, "ar": 2.8, "tr": 3.1, "vi": 3.2, "id": 3.9, "hi": 2.2, "th": 2.0,
    "ko": 1.8, "ja": 1.5, "zh": 1.3,
}
LATIN_CPT, CJK_CPT = CHARS_PER_TOKEN["en"], CHARS_PER_TOKEN["zh"]
TOKENS_PER_MESSAGE = 4  # role header and end-of-turn markers a chat template adds
TRAINABLE_PER_ASSISTANT = 1  # the end-of-turn token the model learns to emit


def approx_base_sql(alias: str = "c") -> str:
    """Per-conversation quantities the approximation needs, as extra SELECT columns over ``alias``.

    Computed once each in a subquery: DuckDB does not share repeated list expressions, and
    writing the formula directly over the messages cost three times as much.
    """
    def over(fn: str, assistant_only: bool) -> str:
        value = f"{fn}(coalesce(msg.content, ''))"
        if assistant_only:
            value = f"CASE WHEN msg.role = 'assistant' THEN {value} ELSE 0 END"
        # BIGINT, not list_sum's HUGEINT: the arithmetic over it cost more than the scan.
        return f"CAST(coalesce(list_sum(list_transform({alias}.messages, lambda msg: {value})), 0) AS BIGINT)"

    return (f"{alias}.n_chars AS _chars, {over('strlen', False)} AS _bytes, {over('length', True)} AS _a_chars, "
            f"{over('strlen', True)} AS _a_bytes, len({alias}.messages) AS _n_msgs, "
            f"CAST(coalesce(list_sum(list_transform({alias}.messages, lambda msg: (msg.role = 'assistant')::INTEGER)), 0) "
            f"AS BIGINT) AS _n_asst, lower(split_part(replace(coalesce({alias}.lang, ''), '_', '-'), '-', 1)) AS _lang")


def _estimate(chars: str, nbytes: str) -> str:
    factor = " ".join(f"WHEN '{code}' THEN {cpt}::DOUBLE" for code, cpt in CHARS_PER_TOKEN.items())
    # CJK characters take three UTF-8 bytes and Latin ones one: (bytes - chars) / 2 estimates them.
    cjk = f"least({chars}::DOUBLE, greatest(0.0, ({nbytes} - {chars}) / 2.0))"
    return (f"coalesce({chars} / (CASE _lang {factor} ELSE NULL END), "
            f"({chars} - {cjk}) / {LATIN_CPT}::DOUBLE + {cjk} / {CJK_CPT}::DOUBLE)")


def approx_tokens_sql() -> tuple[str, str]:
    """SQL (total, trainable) approximations over the columns :func:`approx_base_sql` adds."""
    return (f"CAST(round({_estimate('_chars', '_bytes')}) AS BIGINT) + {TOKENS_PER_MESSAGE} * _n_msgs",
            f"CAST(round({_estimate('_a_chars', '_a_bytes')}) AS BIGINT) + {TRAINABLE_PER_ASSISTANT} * _n_asst")


def approx_query(where: str = "TRUE", columns: str = "c.*") -> str:
    """``SELECT columns, base quantities FROM conversations c WHERE where``: select the estimates over it."""
    return f"SELECT {columns}, {approx_base_sql('c')} FROM conversations c WHERE {where}"


def register_tokenizer(registry: Any, spec: TokenizerSpec) -> None:
    registry.con.execute(
        "INSERT INTO t_tokenizer VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
        [spec.key, spec.name, spec.template_sha256, spec.template_source, spec.trainable_method, utcnow()],
    )


@dataclass
class CountSummary:
    missing: int = 0
    counted: int = 0
    errors: int = 0
    tokens: int = 0
    trainable_tokens: int = 0


_COUNT_SCHEMA = pa.schema([("conversation_id", pa.string()), ("n_tokens", pa.int32()),
                           ("n_trainable_tokens", pa.int32()), ("error", pa.string())])


def _write(con: Any, spec: TokenizerSpec, run: Run, ids: list[str], results: list) -> None:
    table = pa.table({"conversation_id": ids, "n_tokens": [r[0] for r in results],
                      "n_trainable_tokens": [r[1] for r in results], "error": [r[2] for r in results]},
                     schema=_COUNT_SCHEMA)
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("_token_batch", table)
        con.execute("""INSERT INTO t_token_count
            SELECT b.conversation_id, $1, b.n_tokens, b.n_trainable_tokens, b.error, $2, $3 FROM _token_batch b
            WHERE NOT EXISTS (SELECT 1 FROM t_token_count t
                              WHERE t.tokenizer_key = $1 AND t.conversation_id = b.conversation_id)""",
                    [spec.key, run.id, utcnow()])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_token_batch")


def count_missing(registry: Any, spec: TokenizerSpec, run: Run, candidates_sql: str, params: list | None = None, *,
                  workers: int | None = None, batch_size: int = 256,
                  progress: Callable[[int, int], None] | None = None) -> CountSummary:
    """Count every conversation whose id ``candidates_sql`` yields and that has no count under ``spec``.

    ``candidates_sql`` runs on the registry's own connection, so it may use its temp tables.
    """
    register_tokenizer(registry, spec)
    con = registry.con
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _tok_missing AS SELECT c.id FROM conversations c
                    WHERE c.id IN ({candidates_sql}) AND NOT EXISTS (SELECT 1 FROM t_token_count t
                    WHERE t.tokenizer_key = ? AND t.conversation_id = c.id)""", list(params or []) + [spec.key])
    # fetchall, not fetchone: DuckDB refuses con.sql() below while a result is unfinished.
    summary = CountSummary(missing=con.execute("SELECT count(*) FROM _tok_missing").fetchall()[0][0])
    if not summary.missing:
        return summary
    # The scan streams on the registry's connection; batches are written through a second
    # one, each in its own transaction, so an interrupted count keeps what it finished.
    writer = con.cursor()
    stream = con.sql("SELECT c.id, c.messages FROM conversations c SEMI JOIN _tok_missing m ON m.id = c.id"
                     ).to_arrow_reader(batch_size)

    def batches():
        for batch in stream:
            yield batch.column(0).to_pylist(), batch.column(1).to_pylist()

    def done(ids: list[str], results: list) -> None:
        _write(writer, spec, run, ids, results)
        summary.counted += len(ids)
        summary.errors += sum(1 for r in results if r[2])
        summary.tokens += sum(r[0] or 0 for r in results)
        summary.trainable_tokens += sum(r[1] or 0 for r in results)
        if progress:
            progress(summary.counted, summary.missing)

    workers = workers or min(os.cpu_count() or 1, 8)
    try:
        if workers <= 1 or summary.missing <= 4 * batch_size:  # a pool costs seconds to start
            counter = Counter(spec)
            for ids, convs in batches():
                done(ids, counter.count(convs))
        else:
            _count_in_pool(spec, batches(), done, workers)
    finally:
        stream.close()
        writer.close()
    run.add(token_counts=summary.counted, token_count_errors=summary.errors)
    return summary


def _count_in_pool(spec: TokenizerSpec, batches: Any, done: Callable, workers: int) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # fork where there is one: workers start at once with transformers already imported, and
    # spawn would re-run an unguarded __main__ (``python -m imitkit``). Workers never touch
    # DuckDB, and tokenizers turns its own thread pool off in a forked child.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method),
                               initializer=init_worker, initargs=(spec,))
    pending: set = set()
    try:
        for ids, convs in batches:
            pending.add(pool.submit(count_in_worker, ids, convs))
            if len(pending) >= 2 * workers:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    done(*future.result())
        for future in pending:
            done(*future.result())
        pending = set()
    finally:
        pool.shutdown(wait=not pending, cancel_futures=True)
