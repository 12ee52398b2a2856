"""Reading a snapshot written by ``imitkit mix``: its manifest and one split as a ``datasets.Dataset``.

Layout (docs/architecture.md): ``<registry>/snapshots/NAME/{manifest.json, train.parquet, eval.parquet}``.
The split's sha256 in the manifest is checked before training, so the fingerprint a model
is recorded against is the data it actually saw.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imitkit.finetune.errors import SnapshotError

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Snapshot:
    name: str
    path: Path
    manifest: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        return self.manifest["fingerprint"]

    def split_names(self) -> list[str]:
        return sorted(self.manifest.get("splits") or {})

    def has_split(self, split: str) -> bool:
        return self.split_file(split).is_file()

    def split_file(self, split: str) -> Path:
        info = (self.manifest.get("splits") or {}).get(split) or {}
        return self.path / info.get("file", f"{split}.parquet")


def open_snapshot(registry_root: Path, name: str) -> Snapshot:
    """Find snapshot ``name`` under the registry and read its manifest."""
    if not name or "/" in name or name.startswith("."):
        raise SnapshotError(f"{name!r} is not a snapshot name")
    folder = Path(registry_root) / "snapshots" / name
    if not folder.is_dir():
        present = sorted(p.name for p in (Path(registry_root) / "snapshots").glob("*") if p.is_dir())
        listing = f" (snapshots here: {', '.join(present)})" if present else " (this registry has no snapshots; create one with `imitkit mix`)"
        raise SnapshotError(f"no snapshot {name!r} in {registry_root}{listing}")
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise SnapshotError(f"snapshot {name!r} has no {MANIFEST}: it is incomplete (was `imitkit mix` interrupted?)") from e
    except (OSError, json.JSONDecodeError) as e:
        raise SnapshotError(f"cannot read {folder / MANIFEST}: {e}") from e
    if not isinstance(manifest, dict) or not manifest.get("fingerprint"):
        raise SnapshotError(f"{folder / MANIFEST} has no fingerprint")
    return Snapshot(name, folder, manifest)


def verify_split(snapshot: Snapshot, split: str) -> None:
    """Check the split file against the sha256 its manifest records (when it records one)."""
    path = snapshot.split_file(split)
    if not path.is_file():
        raise SnapshotError(f"snapshot {snapshot.name!r} has no {split!r} split (it has: {', '.join(snapshot.split_names()) or 'none'})")
    expected = ((snapshot.manifest.get("splits") or {}).get(split) or {}).get("sha256")
    if not expected:
        return
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise SnapshotError(
            f"{path} does not match the sha256 in its manifest: the snapshot changed after it was written; "
            f"re-create it with `imitkit mix` rather than editing its files")


def load_split(snapshot: Snapshot, split: str, max_examples: int | None = None) -> Any:
    """The split's ``id`` and ``messages`` columns as a ``datasets.Dataset``."""
    import datasets
    import pyarrow.parquet as pq
    from datasets.table import InMemoryTable

    verify_split(snapshot, split)
    path = snapshot.split_file(split)
    try:
        schema = pq.read_schema(path)
        if "messages" not in schema.names:
            raise SnapshotError(f"{path} has no 'messages' column (columns: {', '.join(schema.names)})")
        columns = [c for c in ("id", "messages") if c in schema.names]
        table = pq.read_table(path, columns=columns)
    except SnapshotError:
        raise
    except Exception as e:  # pyarrow raises several unrelated types for a damaged file
        raise SnapshotError(f"cannot read {path}: {e}") from e
    if max_examples is not None:
        table = table.slice(0, max_examples)
    if "id" not in table.column_names:
        import pyarrow as pa

        table = table.append_column("id", pa.array([f"{split}:{i}" for i in range(table.num_rows)]))
    if table.num_rows == 0:
        raise SnapshotError(f"split {split!r} of snapshot {snapshot.name!r} is empty")
    return datasets.Dataset(InMemoryTable(table))
