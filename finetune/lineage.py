"""Lineage of a fine-tuned model: the output directory's record, its model card, and the registry rows.

``imitkit_finetune.json`` is written into the output directory before training starts, so a
resume can refuse a checkpoint trained on another snapshot or base model. The registry is not
held open during training (DuckDB has one writer, and runs last hours): the run is recorded
when training ends, whether it finished, failed or was interrupted, with its true start time.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from imitkit.finetune.errors import CheckpointError

LINEAGE_FILE = "imitkit_finetune.json"


@dataclass
class Lineage:
    snapshot: str
    snapshot_fingerprint: str
    snapshot_split: str
    base_model: str
    adapter: bool
    chat_template: str
    chat_template_sha256: str
    settings: dict[str, Any]
    code_version: str
    started_at: str
    check: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    model_dir: str
    global_step: int
    trainable_tokens_seen: int
    metrics: dict[str, Any]
    examples: int


def write_lineage(output_dir: Path, lineage: Lineage) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / LINEAGE_FILE).write_text(json.dumps(asdict(lineage), indent=2, default=str), encoding="utf-8")


def ensure_resumable(output_dir: Path, lineage: Lineage) -> None:
    """A checkpoint may only be continued on the same snapshot, split and base model."""
    try:
        before = json.loads((output_dir / LINEAGE_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return  # a checkpoint from another tool: nothing to compare against
    for key in ("snapshot_fingerprint", "snapshot_split", "base_model", "adapter"):
        if before.get(key) != getattr(lineage, key):
            raise CheckpointError(
                f"the checkpoints in {output_dir} were trained with {key}={before.get(key)!r}, not "
                f"{getattr(lineage, key)!r}; resume with the same settings or choose another --output-dir")


def model_card(lineage: Lineage, outcome: Outcome, run_id: str) -> str:
    import yaml

    metrics = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in outcome.metrics.items())
    front = {"base_model": lineage.base_model, "library_name": "peft" if lineage.adapter else "transformers",
             "tags": ["imitkit", "trl", "sft"],
             "imitkit": {"snapshot": lineage.snapshot, "snapshot_fingerprint": lineage.snapshot_fingerprint,
                         "trainable_tokens_seen": outcome.trainable_tokens_seen, "run_id": run_id}}
    rows = [
        ("snapshot", f"`{lineage.snapshot}` (split `{lineage.snapshot_split}`)"),
        ("snapshot fingerprint", f"`{lineage.snapshot_fingerprint}`"),
        ("base model", f"`{lineage.base_model}`"),
        ("weights", "LoRA adapter (load on top of the base model)" if lineage.adapter else "full fine-tune"),
        ("chat template", f"{lineage.chat_template} (sha256 `{lineage.chat_template_sha256[:16]}…`)"),
        ("loss on", "assistant turns only" if lineage.settings["sft"].get("assistant_only_loss") else "every token"),
        ("examples", f"{outcome.examples:,}"),
        ("trainable tokens seen", f"{outcome.trainable_tokens_seen:,}"),
        ("optimizer steps", f"{outcome.global_step:,}"),
        ("final metrics", metrics or "none"),
        ("registry run", f"`{run_id}` (imitkit {lineage.code_version})"),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    config = yaml.safe_dump(lineage.settings, sort_keys=False, allow_unicode=True)
    return (f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n\n# {Path(outcome.model_dir).name}\n\n"
            f"Supervised fine-tune of `{lineage.base_model}` with TRL's `SFTTrainer` on the imitkit snapshot "
            f"`{lineage.snapshot}`.\n\n| | |\n|---|---|\n{table}\n\n"
            "## Configuration\n\n```yaml\n" + config + "```\n\n"
            "## Limitations\n\nImitation data teaches a model the teacher's style far more than its capabilities "
            "(Gudibande et al., 2023, *The False Promise of Imitating Proprietary LLMs*). Judge this model on "
            "benchmarks (`imitkit eval`), not on how its answers read.\n")


def record(registry_root: Path, arguments: dict[str, Any], lineage: Lineage, outcome: Outcome | None,
           error: BaseException | None) -> str:
    """Record the run (and the model, when training finished); re-raises ``error`` once recorded."""
    import pyarrow as pa

    from imitkit.registry.runs import recorded_run, utcnow
    from imitkit.registry.store import Registry

    with Registry.open(registry_root) as reg, recorded_run(reg, "finetune", arguments) as run:
        reg.con.execute("UPDATE t_run SET started_at = ? WHERE id = ?",
                        [datetime.fromisoformat(lineage.started_at), run.id])
        if outcome is not None:
            run.add(examples=outcome.examples, steps=outcome.global_step,
                    trainable_tokens_seen=outcome.trainable_tokens_seen)
        if error is not None:
            raise error
        assert outcome is not None
        (Path(outcome.model_dir) / "README.md").write_text(model_card(lineage, outcome, run.id), encoding="utf-8")
        row = pa.table({
            "model_dir": [outcome.model_dir], "snapshot": [lineage.snapshot],
            "snapshot_fingerprint": [lineage.snapshot_fingerprint], "snapshot_split": [lineage.snapshot_split],
            "base_model": [lineage.base_model], "adapter": [lineage.adapter], "run_id": [run.id],
            "config": [json.dumps(lineage.settings, default=str)], "chat_template": [lineage.chat_template],
            "chat_template_sha256": [lineage.chat_template_sha256],
            "trainable_tokens_seen": pa.array([outcome.trainable_tokens_seen], pa.int64()),
            "global_step": pa.array([outcome.global_step], pa.int32()),
            "final_metrics": [json.dumps(outcome.metrics, default=str)], "created_at": [utcnow()],
        })
        with reg.transaction() as con:
            con.register("_model_row", row)
            try:
                # Training again into the same directory replaces what it holds; the runs keep the history.
                con.execute("DELETE FROM t_model WHERE model_dir IN (SELECT model_dir FROM _model_row)")
                con.execute("INSERT INTO t_model BY NAME SELECT * FROM _model_row")
            finally:
                con.unregister("_model_row")
        return run.id
