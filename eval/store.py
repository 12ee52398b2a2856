"""Eval results in the registry: lineage lookup, eval-set registration, results and predictions.

Everything here runs inside a short write open at the end of a run, so a long model
run never holds the registry's single write lock.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from imitkit.eval import data
from imitkit.eval.tasks import TaskResult
from imitkit.registry.evalsets import EvalItem, register
from imitkit.registry.records import canonical_json
from imitkit.registry.runs import Run, utcnow

PREDICTIONS_SCHEMA = pa.schema([
    ("item_id", pa.string()), ("prompt", pa.string()), ("output", pa.string()),
    ("target", pa.string()), ("score", pa.float64()), ("details", pa.string()),
])


def has_relation(registry: Any, name: str) -> bool:
    return bool(registry.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]))


def _columns(registry: Any, name: str) -> set[str]:
    return {r[0] for r in registry.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [name]).fetchall()}


def lineage(registry: Any, model_dir: str | None, snapshot: str | None) -> dict[str, Any]:
    """Snapshot, its fingerprint and trainable tokens, and base model, from whatever the registry knows."""
    info: dict[str, Any] = {"snapshot": snapshot, "snapshot_fingerprint": None, "trainable_tokens": None,
                            "base_model": None}
    if model_dir and has_relation(registry, "models"):
        wanted = [c for c in ("snapshot", "snapshot_fingerprint", "base_model") if c in _columns(registry, "models")]
        if wanted and "model_dir" in _columns(registry, "models"):
            found = registry.rows(f"SELECT {', '.join(wanted)} FROM models WHERE model_dir IN (?, ?) LIMIT 1",
                                  [str(Path(model_dir).expanduser().resolve()), model_dir])
            if found:
                for key, value in found[0].items():
                    if info.get(key) is None:
                        info[key] = value
    name = info["snapshot"]
    if name:
        if has_relation(registry, "snapshots"):
            found = registry.rows("SELECT fingerprint, trainable_tokens FROM snapshots WHERE name = ?", [name])
            if found:
                info["snapshot_fingerprint"] = info["snapshot_fingerprint"] or found[0]["fingerprint"]
                info["trainable_tokens"] = found[0]["trainable_tokens"]
        manifest = registry.root / "snapshots" / name / "manifest.json"
        if info["trainable_tokens"] is None and manifest.exists():
            doc = json.loads(manifest.read_text(encoding="utf-8"))
            info["snapshot_fingerprint"] = info["snapshot_fingerprint"] or doc.get("fingerprint")
            info["trainable_tokens"] = ((doc.get("splits") or {}).get("train") or {}).get("trainable_tokens")
    return info


def heldout_file(registry_root: Path, snapshot: str) -> Path:
    return registry_root / "snapshots" / snapshot / "eval.parquet"


# -- eval sets ------------------------------------------------------------------------
def evalset_items(task: str, path: Path | None) -> list[EvalItem]:
    if task == "nq":
        return [EvalItem(i.id, i.text, i.target) for i in data.load_nq(path)]
    if task == "mmlu":
        return [EvalItem(i.id, i.text, [i.target], {"subject": i.meta["subject"], "choices": i.meta["choices"]})
                for i in data.load_mmlu(path)[0]]
    if task == "humaneval":
        return [EvalItem(i.id, i.text, None, {"entry_point": i.meta["entry_point"]})
                for i in data.load_humaneval(path)]
    raise ValueError(task)


def register_evalset(registry: Any, task: str, path: Path | None) -> int:
    """Register the task's whole file as an eval set unless the same items are already there; 0 if unchanged."""
    default = data.data_root() / data.DEFAULT_FILES[task]
    name = task if path is None or path.resolve() == default.resolve() else f"{task}:{path.stem.split('.')[0]}"
    if path is not None and _unchanged_since_registered(registry, name, path):
        return 0
    items = evalset_items(task, path)
    digest = hashlib.blake2b(digest_size=16)  # the same fingerprint evalsets.register stores
    for item in items:
        digest.update(canonical_json([item.item_id, item.text, item.answers]).encode())
    if registry.scalar("SELECT fingerprint FROM t_evalset WHERE name = ?", [name]) == digest.hexdigest():
        return 0
    field_name = {"nq": "question", "mmlu": "question", "humaneval": "prompt"}[task]
    return register(registry, name, items, task=task, file=str(path.resolve()) if path else f"hf:{task}",
                    field_name=field_name)


def _unchanged_since_registered(registry: Any, name: str, path: Path) -> bool:
    """Same file, registered after its last change: skip re-reading (MMLU is 14k rows)."""
    row = registry.rows("SELECT file, created_at FROM t_evalset WHERE name = ?", [name])
    if not row or row[0]["file"] != str(path.resolve()):
        return False
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    newest = max((p.stat().st_mtime for p in files), default=0.0)
    return row[0]["created_at"].replace(tzinfo=timezone.utc).timestamp() > newest


# -- results ----------------------------------------------------------------------------
def save_result(registry: Any, run: Run, model: str, spec: str, kind: str, info: dict[str, Any],
                result: TaskResult) -> str:
    """Write the predictions Parquet, then the eval row and its metrics in one transaction."""
    eval_id = "e:" + utcnow().strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
    relative = Path("evals") / result.task / (eval_id[2:] + ".parquet")
    target = registry.root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    columns = {name: [r.get(name) for r in result.rows] for name in PREDICTIONS_SCHEMA.names}
    pq.write_table(pa.table(columns, schema=PREDICTIONS_SCHEMA), target)
    metrics = pa.table({"eval_id": [eval_id] * len(result.metrics), "metric": list(result.metrics),
                        "value": [float(v) for v in result.metrics.values()]})
    try:
        _insert(registry, eval_id, run, model, spec, kind, info, result, relative, metrics)
    except BaseException:
        target.unlink(missing_ok=True)  # no orphan predictions without their row
        raise
    run.add(evals=1, items=result.n)
    return eval_id


def _insert(registry: Any, eval_id: str, run: Run, model: str, spec: str, kind: str, info: dict[str, Any],
            result: TaskResult, relative: Path, metrics: pa.Table) -> None:
    con = registry.con
    with registry.transaction():
        con.execute("INSERT INTO t_eval VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            eval_id, run.id, model, spec, kind, info.get("snapshot"), info.get("snapshot_fingerprint"),
            info.get("trainable_tokens"), info.get("base_model"), result.task, result.n,
            json.dumps(result.settings, default=str), relative.as_posix(), result.seconds, utcnow()])
        con.register("_eval_metrics", metrics)
        try:
            con.execute("INSERT INTO t_eval_metric SELECT eval_id, metric, value FROM _eval_metrics")
        finally:
            con.unregister("_eval_metrics")
