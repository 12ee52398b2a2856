"""Eval sets in the registry: one list of items shared by decontamination and eval.

``register`` replaces a set atomically (the items of a re-registered set are swapped
in one transaction), so curation and eval always see the same items.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa

from imitkit.registry.errors import NotFoundError, RegistryError
from imitkit.registry.records import canonical_json
from imitkit.registry.runs import utcnow


@dataclass(slots=True)
class EvalItem:
    item_id: str
    text: str
    answers: list[Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def register(registry: Any, name: str, items: Iterable[EvalItem], *, task: str | None = None,
             file: str | None = None, field_name: str | None = None) -> int:
    """Create or replace eval set ``name``; return the number of items."""
    items = list(items)
    if not items:
        raise RegistryError(f"eval set {name!r} has no items")
    ids = [i.item_id for i in items]
    if len(set(ids)) != len(ids):
        raise RegistryError(f"eval set {name!r} has duplicate item ids")
    digest = hashlib.blake2b(digest_size=16)
    for item in items:
        digest.update(canonical_json([item.item_id, item.text, item.answers]).encode())
    table = pa.table({
        "item_id": ids,
        "text": [i.text for i in items],
        "answers": [json.dumps(i.answers, ensure_ascii=False) if i.answers is not None else None for i in items],
        "metadata": [json.dumps(i.metadata, ensure_ascii=False) if i.metadata else None for i in items],
    })
    con = registry.con
    with registry.transaction():
        con.execute("DELETE FROM t_evalset_item WHERE evalset = ?", [name])
        con.execute("DELETE FROM t_evalset WHERE name = ?", [name])
        con.register("_evalset_items", table)
        try:
            con.execute("INSERT INTO t_evalset_item SELECT ?, item_id, text, answers, metadata FROM _evalset_items", [name])
        finally:
            con.unregister("_evalset_items")
        con.execute("INSERT INTO t_evalset VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [name, task, file, field_name, len(items), digest.hexdigest(), utcnow()])
    return len(items)


def load_items(registry: Any, name: str) -> list[EvalItem]:
    rows = registry.con.execute(
        "SELECT item_id, text, answers, metadata FROM t_evalset_item WHERE evalset = ? ORDER BY item_id", [name]
    ).fetchall()
    if not rows and not registry.con.execute("SELECT 1 FROM t_evalset WHERE name = ?", [name]).fetchone():
        raise NotFoundError(f"no eval set named {name!r} (see `imitkit evalset list`)")
    return [EvalItem(r[0], r[1], json.loads(r[2]) if r[2] else None, json.loads(r[3]) if r[3] else {}) for r in rows]


def names(registry: Any) -> list[str]:
    return [r[0] for r in registry.con.execute("SELECT name FROM t_evalset ORDER BY name").fetchall()]


def items_from_file(path: Path, field_name: str, id_field: str | None = None,
                    answer_field: str | None = None) -> list[EvalItem]:
    """Read items from JSON/JSONL(.gz) or CSV with a header; ids default to the 0-based row."""
    from imitkit.collectors.reading import BadRecord, iter_records

    items = []
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            rows: Iterable[tuple[int, Any]] = list(enumerate(csv.DictReader(f)))
    else:
        rows = []
        for record in iter_records(path):
            if isinstance(record, BadRecord):
                raise RegistryError(f"{path}: record {record.index} (line {record.line}): {record.reason}")
            rows.append((record.index, record.value))
    for index, row in rows:
        if not isinstance(row, dict) or field_name not in row:
            raise RegistryError(f"{path}: record {index} has no field {field_name!r}")
        text = row[field_name]
        if not isinstance(text, str) or not text.strip():
            raise RegistryError(f"{path}: record {index} field {field_name!r} is not a non-empty string")
        item_id = str(row[id_field]) if id_field else str(index)
        answers = row.get(answer_field) if answer_field else None
        if answers is not None and not isinstance(answers, list):
            answers = [answers]
        extra = {k: v for k, v in row.items() if k not in (field_name, id_field, answer_field)}
        items.append(EvalItem(item_id, text, answers, extra))
    return items
