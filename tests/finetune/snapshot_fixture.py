"""Build a snapshot folder the way ``imitkit mix`` lays it out, from real conversations in a registry.

Until ``imitkit mix`` lands, finetune tests import real chat dumps with ``imitkit import`` and
write ``<registry>/snapshots/NAME/{train,eval}.parquet`` and ``manifest.json`` (layout in
docs/architecture.md) from a SELECT over the ``conversations`` view.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq

from imitkit.registry.records import canonical_json
from imitkit.registry.store import Registry

COLUMNS = "id, messages, source, origin, teacher_model, 'all' AS component, 0 AS n_tokens, 0 AS n_trainable_tokens"


def import_sharegpt(registry_dir: Path, path: Path, source: str = "fc") -> None:
    from imitkit.cli import main

    code = main(["--registry", str(registry_dir), "import", "sharegpt", str(path), "--source", source])
    assert code == 0, f"import of {path} failed"


def write_snapshot(registry_dir: Path, name: str, where: str = "TRUE", limit: int | None = None,
                   messages_sql: str = "messages", eval_where: str | None = None) -> Path:
    """Write snapshot ``name`` from ``conversations WHERE where`` (ordered by id); return its folder."""
    folder = Path(registry_dir) / "snapshots" / name
    folder.mkdir(parents=True, exist_ok=True)
    splits = {}
    with Registry.open(registry_dir, read_only=True) as reg:
        for split, condition in (("train", where), ("eval", eval_where)):
            if condition is None:
                continue
            query = (f"SELECT {COLUMNS.replace('messages', messages_sql + ' AS messages', 1)} FROM conversations "
                     f"WHERE {condition} ORDER BY id" + (f" LIMIT {limit}" if limit and split == "train" else ""))
            table = reg.con.cursor().sql(query).to_arrow_table()
            path = folder / f"{split}.parquet"
            pq.write_table(table, path)
            splits[split] = {"file": path.name, "conversations": table.num_rows, "tokens": None,
                             "trainable_tokens": None, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    fingerprint = hashlib.blake2b(canonical_json({"name": name, "splits": splits}).encode(), digest_size=16).hexdigest()
    manifest = {"name": name, "fingerprint": fingerprint, "spec": {"where": where}, "seed": 0, "tokenizer": None,
                "chat_template": None, "token_counts_exact": False, "splits": splits, "components": ["all"],
                "sources": ["fc"], "curation": None, "contamination": None, "code_version": "test", "created_at": None}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return folder
