"""``snapshot export``: a verified snapshot as Parquet, JSON Lines, or a ``datasets`` folder.

Every format keeps ``messages`` as a list of ``{role, content}`` objects, the
conversational format TRL and ``datasets`` read; ``hf`` is ``DatasetDict.save_to_disk``
(load it with ``datasets.load_from_disk``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from imitkit.registry.snapshots import CARD, MANIFEST, SPLITS, SnapshotError, load

FORMATS = ("parquet", "jsonl", "hf")


def require_intact(registry: Any, name: str) -> dict[str, Any]:
    """The snapshot's record, after ``verify`` found nothing wrong: never ship a changed snapshot."""
    from imitkit.registry.snapshot_check import verify

    problems = verify(registry, name)
    if problems:
        raise SnapshotError(f"snapshot {name!r} fails verification ({problems[0]}"
                            f"{f' and {len(problems) - 1} more' if len(problems) > 1 else ''}); "
                            f"see `imitkit snapshot verify {name}`")
    return load(registry, name)


def _empty_target(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SnapshotError(f"{out} exists and is not an empty folder; choose a new --out")
    out.mkdir(parents=True, exist_ok=True)


def export(registry: Any, name: str, fmt: str, out: Path) -> list[Path]:
    """Write snapshot ``name`` to ``out`` in ``fmt``; return the files written."""
    if fmt not in FORMATS:
        raise SnapshotError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    record = require_intact(registry, name)
    folder = record["path"]
    splits = [s for s in SPLITS if s in record["manifest"]["splits"]]
    _empty_target(out)
    written = []
    if fmt == "parquet":
        for file in [f"{s}.parquet" for s in splits] + [MANIFEST, CARD]:
            shutil.copyfile(folder / file, out / file)
            written.append(out / file)
    elif fmt == "jsonl":
        for split in splits:
            source = str(folder / f"{split}.parquet").replace("'", "''")
            target = out / f"{split}.jsonl"
            registry.con.execute(f"COPY (SELECT * FROM read_parquet('{source}')) TO "
                                 f"'{str(target).replace(chr(39), chr(39) * 2)}' (FORMAT json)")
            written.append(target)
        shutil.copyfile(folder / MANIFEST, out / MANIFEST)
        written.append(out / MANIFEST)
    else:
        import pyarrow.parquet as pq
        from datasets import Dataset, DatasetDict
        from datasets.table import InMemoryTable

        data = DatasetDict({s: Dataset(InMemoryTable(pq.read_table(folder / f"{s}.parquet"))) for s in splits})
        data.save_to_disk(str(out))
        shutil.copyfile(folder / MANIFEST, out / MANIFEST)
        written = sorted(p for p in out.rglob("*") if p.is_file())
    return written
