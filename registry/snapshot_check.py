"""``snapshot verify`` and ``snapshot diff``: checks against the registry's record, and comparisons.

``verify`` trusts nothing on disk: it rehashes every file, re-reads member ids from the
Parquet files, recomputes the fingerprint from the registered spec, and compares all of
it with what the registry recorded when the snapshot was made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from imitkit.registry.records import canonical_json
from imitkit.registry.snapshots import MANIFEST, SPLITS, compute_fingerprint, file_sha256, load, members_digest_sql


def _parquet(path: Path) -> str:
    return "read_parquet('" + str(path).replace("'", "''") + "', file_row_number = true)"


def verify(registry: Any, name: str) -> list[str]:
    """Problems found in snapshot ``name`` (empty when it is intact)."""
    record = load(registry, name)
    folder, doc = record["path"], record["manifest"]
    if not folder.is_dir():
        return [f"folder {folder} is missing"]
    problems = []
    try:
        on_disk = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        if canonical_json(on_disk) != canonical_json(doc):
            changed = sorted(k for k in set(doc) | set(on_disk) if doc.get(k) != on_disk.get(k))
            problems.append(f"{MANIFEST} differs from the registry's record (keys: {', '.join(changed)})")
    except (OSError, ValueError) as e:
        problems.append(f"{MANIFEST} is unreadable: {e}")
    for file, info in doc.get("files", {}).items():
        if not (folder / file).is_file():
            problems.append(f"{file} is missing")
        elif file_sha256(folder / file) != info["sha256"]:
            problems.append(f"{file} changed (sha256 differs)")
    digests = {}
    for split in SPLITS:
        info = doc["splits"].get(split)
        path = folder / f"{split}.parquet"
        if info is None:
            digests[split] = ""
            if path.exists():
                problems.append(f"{path.name} should not exist")
            continue
        if not path.is_file():
            problems.append(f"{path.name} is missing")
            continue
        if file_sha256(path) != info["sha256"]:
            problems.append(f"{path.name} changed (sha256 differs from the manifest)")
        try:
            digests[split] = registry.scalar(members_digest_sql(_parquet(path), "file_row_number"))
        except Exception as e:  # noqa: BLE001 - a corrupt file is a finding, not a crash
            problems.append(f"{path.name} cannot be read as Parquet: {str(e).splitlines()[0]}")
            continue
        quoted = name.replace("'", "''")
        recorded = registry.scalar(members_digest_sql(
            f"(SELECT conversation_id AS id, position FROM snapshot_members "
            f"WHERE snapshot = '{quoted}' AND split = '{split}')", "position"))
        if digests[split] != recorded:
            problems.append(f"{path.name}: member ids differ from the registry's record ({_id_changes(registry, name, split, path)})")
    if len(digests) == len(SPLITS):
        again = compute_fingerprint(doc["spec"], doc["token_counts"], digests)
        if again != record["fingerprint"]:
            problems.append(f"fingerprint recomputed from the files is {again[:12]}, registered {record['fingerprint'][:12]}")
    return problems


def _id_changes(registry: Any, name: str, split: str, path: Path) -> str:
    row = registry.rows(f"""
        WITH f AS (SELECT DISTINCT id FROM {_parquet(path)}),
             r AS (SELECT DISTINCT conversation_id AS id FROM snapshot_members WHERE snapshot = ? AND split = ?)
        SELECT (SELECT count(*) FROM f WHERE id NOT IN (SELECT id FROM r)) AS added,
               (SELECT count(*) FROM r WHERE id NOT IN (SELECT id FROM f)) AS removed""", [name, split])[0]
    if not row["added"] and not row["removed"]:
        return "same ids, different order or repeats"
    return f"{row['added']} added, {row['removed']} removed"


def _members_sql(registry: Any, name: str) -> str:
    folder = load(registry, name)["path"]
    files = [folder / f"{s}.parquet" for s in SPLITS if (folder / f"{s}.parquet").is_file()]
    parts = [f"SELECT id, '{f.stem}' AS split, source, n_tokens, n_trainable_tokens FROM {_parquet(f)}" for f in files]
    return " UNION ALL ".join(parts) or "SELECT NULL::VARCHAR AS id, NULL AS split, NULL AS source, 0 AS n_tokens, 0 AS n_trainable_tokens WHERE FALSE"


def diff(registry: Any, a: str, b: str, sample: int = 10) -> dict[str, Any]:
    """Conversations added and removed from ``a`` to ``b``, split moves, and token deltas by source."""
    con = registry.con
    con.execute(f"CREATE OR REPLACE TEMP TABLE _diff_a AS {_members_sql(registry, a)}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _diff_b AS {_members_sql(registry, b)}")
    counts = registry.rows("""
        WITH ia AS (SELECT DISTINCT id FROM _diff_a), ib AS (SELECT DISTINCT id FROM _diff_b)
        SELECT (SELECT count(*) FROM ib ANTI JOIN ia USING (id)) AS added,
               (SELECT count(*) FROM ia ANTI JOIN ib USING (id)) AS removed,
               (SELECT count(*) FROM ia SEMI JOIN ib USING (id)) AS common,
               (SELECT count(DISTINCT x.id) FROM _diff_a x JOIN _diff_b y USING (id) WHERE x.split <> y.split) AS moved_split,
               (SELECT coalesce(sum(n_tokens), 0) FROM _diff_a) AS tokens_a,
               (SELECT coalesce(sum(n_tokens), 0) FROM _diff_b) AS tokens_b,
               (SELECT coalesce(sum(n_trainable_tokens), 0) FROM _diff_a) AS trainable_a,
               (SELECT coalesce(sum(n_trainable_tokens), 0) FROM _diff_b) AS trainable_b""")[0]
    by_source = registry.rows("""
        WITH sa AS (SELECT source, count(*) AS n, sum(n_tokens) AS t, sum(n_trainable_tokens) AS tt FROM _diff_a GROUP BY 1),
             sb AS (SELECT source, count(*) AS n, sum(n_tokens) AS t, sum(n_trainable_tokens) AS tt FROM _diff_b GROUP BY 1)
        SELECT source, coalesce(sa.n, 0) AS conversations_a, coalesce(sb.n, 0) AS conversations_b,
               coalesce(sa.t, 0) AS tokens_a, coalesce(sb.t, 0) AS tokens_b,
               coalesce(sb.t, 0) - coalesce(sa.t, 0) AS tokens_delta,
               coalesce(sb.tt, 0) - coalesce(sa.tt, 0) AS trainable_delta
        FROM sa FULL OUTER JOIN sb USING (source) ORDER BY abs(tokens_delta) DESC, source""")
    added = [r[0] for r in con.execute(f"SELECT DISTINCT id FROM _diff_b ANTI JOIN _diff_a USING (id) ORDER BY id LIMIT {sample}").fetchall()]
    removed = [r[0] for r in con.execute(f"SELECT DISTINCT id FROM _diff_a ANTI JOIN _diff_b USING (id) ORDER BY id LIMIT {sample}").fetchall()]
    for table in ("_diff_a", "_diff_b"):
        con.execute(f"DROP TABLE {table}")
    return {"a": a, "b": b, **counts, "tokens_delta": counts["tokens_b"] - counts["tokens_a"],
            "trainable_delta": counts["trainable_b"] - counts["trainable_a"], "by_source": by_source,
            "added_sample": added, "removed_sample": removed}
