"""The sweep spec: base models × token budgets from one mixture, fine-tuned and evaluated.

    name: nq-scaling
    base_models: [./base-7b]            # local dirs or hub ids
    budgets: [300k, 1M, 10M, 150M]      # trainable tokens (or `unit: total`)
    mixture: {components: {chat: "1.0:origin = 'teacher'"}, seed: 0, eval_fraction: 0.05}
    finetune: {max_steps: 200, learning_rate: 2.0e-5}   # any `imitkit finetune` setting
    lora: false
    packing: false
    eval: {tasks: [nq, humaneval, heldout], limit: 200}
    teacher: openai:gpt-3.5-turbo       # optional: evaluated once, the gap's upper end
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


from imitkit.eval.errors import EvalError
from imitkit.configfile import read_yaml_mapping, reject_unknown_keys


class SweepError(EvalError):
    """A sweep spec that cannot run, or a step that failed."""


@dataclass
class EvalSettings:
    tasks: list[str] = field(default_factory=lambda: ["nq", "humaneval"], metadata={"help": "eval tasks"})
    limit: int | None = field(default=None, metadata={"help": "items per task"})
    shots: int | None = field(default=None, metadata={"help": "few-shot examples"})
    batch_size: int | None = field(default=None, metadata={"help": "local model batch size"})
    max_new_tokens: int | None = field(default=None, metadata={"help": "generation budget per answer"})
    data: dict[str, str] | str | None = field(default=None, metadata={"help": "data folder, or {task: file}"})
    judge: str | None = field(default=None, metadata={"help": "judge model for the judge task (openai:MODEL[@URL])"})
    workers: int | None = field(default=None, metadata={"help": "HumanEval sandbox processes"})
    device: str | None = field(default=None, metadata={"help": "torch device for local models"})


@dataclass
class SweepSpec:
    name: str = field(metadata={"help": "prefix of the sweep's snapshots, models and report"})
    base_models: list[str] = field(metadata={"help": "base models: local directories or hub ids"})
    budgets: list[Any] = field(metadata={"help": "token budgets, e.g. [300k, 1M, 10M]"})
    mixture: dict[str, Any] = field(metadata={"help": "an `imitkit mix` spec without name and budget"})
    unit: str = field(default="trainable", metadata={"help": "budget unit: trainable or total"})
    finetune: dict[str, Any] = field(default_factory=dict, metadata={"help": "`imitkit finetune` settings"})
    lora: bool = field(default=False, metadata={"help": "train LoRA adapters"})
    packing: bool = field(default=False, metadata={"help": "pack examples"})
    chat_template: str | None = field(default=None, metadata={"help": "chat template file for finetune"})
    eval: EvalSettings = field(default_factory=EvalSettings, metadata={"help": "eval settings"})
    teacher: str | None = field(default=None, metadata={"help": "teacher model spec, evaluated once"})
    output_dir: str | None = field(default=None, metadata={"help": "default <registry>/sweeps/NAME"})


def _check_keys(raw: dict[str, Any], cls: type, where: str) -> None:
    reject_unknown_keys(raw, [f.name for f in fields(cls)], where, SweepError)


def budget_label(budget: Any) -> str:
    """A budget as written ('300k', '1.5M'), safe inside snapshot and directory names."""
    text = str(budget).strip().replace("_", "")
    if not re.fullmatch(r"[0-9.]+[kKmMbB]?|all", text):
        raise SweepError(f"budget {budget!r} is not like 300k, 1.5M, 150M or all")
    return text


def load_spec(path: Path) -> SweepSpec:
    raw = read_yaml_mapping(path, SweepError, "sweep spec")
    _check_keys(raw, SweepSpec, str(path))
    eval_raw = raw.pop("eval", None) or {}
    if not isinstance(eval_raw, dict):
        raise SweepError(f"{path}: 'eval' must be a mapping")
    _check_keys(eval_raw, EvalSettings, f"{path} (eval)")
    missing = [k for k in ("name", "base_models", "budgets", "mixture") if k not in raw]
    if missing:
        raise SweepError(f"{path}: missing required key(s): {', '.join(missing)}")
    spec = SweepSpec(**raw, eval=EvalSettings(**eval_raw))
    return validate(spec, str(path))


def validate(spec: SweepSpec, where: str) -> SweepSpec:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", str(spec.name)):
        raise SweepError(f"{where}: name {spec.name!r} must be letters, digits, '.', '_' or '-'")
    if not spec.base_models or not all(isinstance(m, str) for m in spec.base_models):
        raise SweepError(f"{where}: base_models must be a non-empty list of model paths or hub ids")
    if not spec.budgets:
        raise SweepError(f"{where}: budgets must be a non-empty list")
    labels = [budget_label(b) for b in spec.budgets]
    if len(set(labels)) != len(labels):
        raise SweepError(f"{where}: budgets repeat: {labels}")
    if not isinstance(spec.mixture, dict) or {"name", "budget"} & set(spec.mixture):
        raise SweepError(f"{where}: mixture is a mix spec without 'name' and 'budget' (the sweep sets them)")
    if spec.unit not in ("trainable", "total"):
        raise SweepError(f"{where}: unit must be trainable or total")
    if isinstance(spec.eval.tasks, str):
        spec.eval.tasks = [t.strip() for t in spec.eval.tasks.split(",") if t.strip()]
    return spec


def model_label(base: str) -> str:
    """A short name for a base model: its directory name or the part of a hub id after '/'."""
    return Path(base.rstrip("/")).name or base
