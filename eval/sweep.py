"""``imitkit sweep``: the paper's design — snapshots at growing budgets, fine-tune, evaluate, report.

Each step is an ordinary imitkit command run in-process, and each step's result lives in
the registry (a snapshot, a ``models`` row, ``eval_latest`` rows), so a sweep resumes
where it stopped: whatever is already there is not redone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pyarrow.parquet as pq
import yaml

from imitkit.eval.sweep_spec import SweepError, SweepSpec, budget_label, model_label
from imitkit.registry.mixspec import parse_budget
from imitkit.registry.store import Registry


@dataclass
class Step:
    kind: str  # snapshot | finetune | eval
    label: str
    argv: list[str]
    done: bool


class Sweep:
    def __init__(self, spec: SweepSpec, registry_dir: Path, run_command: Callable[[list[str]], int]):
        self.spec = spec
        self.registry_dir = registry_dir
        self.run_command = run_command
        self.out = Path(spec.output_dir) if spec.output_dir else registry_dir / "sweeps" / spec.name
        # Ascending budgets: each snapshot nests in the next, so a failure leaves the small ones usable.
        self.budgets = sorted(spec.budgets, key=lambda b: parse_budget(b) or float("inf"))
        self.bases = {model_label(b): b for b in spec.base_models}
        if len(self.bases) != len(spec.base_models):
            raise SweepError("two base models share a name; give them distinct directory names")

    # -- names -------------------------------------------------------------------------
    def snapshot(self, budget: Any) -> str:
        return f"{self.spec.name}-{budget_label(budget)}"

    def model_dir(self, base_label: str, budget: Any) -> Path:
        return (self.out / "models" / f"{base_label}--{budget_label(budget)}").resolve()

    def finetuned_label(self, base_label: str, budget: Any) -> str:
        return f"{self.spec.name}/{base_label}@{budget_label(budget)}"

    # -- state in the registry -----------------------------------------------------------
    def _state(self) -> tuple[set[str], set[str], dict[str, set[str]]]:
        with Registry.open(self.registry_dir, read_only=True) as reg:
            models = {r[0] for r in reg.con.execute("SELECT model_dir FROM models").fetchall()}
            evals: dict[str, set[str]] = {}
            for model, task in reg.con.execute("SELECT DISTINCT model, task FROM eval_latest").fetchall():
                evals.setdefault(model, set()).add(task)
        snapshots = {p.parent.name for p in (self.registry_dir / "snapshots").glob("*/manifest.json")}
        return snapshots, models, evals

    def plan(self) -> list[Step]:
        snapshots, models, evals = self._state()
        steps = []
        for budget in self.budgets:
            name = self.snapshot(budget)
            steps.append(Step("snapshot", name, ["mix", "--spec", str(self._mix_spec(budget))], name in snapshots))
        config = str(self._finetune_config())
        for base_label, base in self.bases.items():
            for budget in self.budgets:
                out = self.model_dir(base_label, budget)
                argv = ["finetune", "--snapshot", self.snapshot(budget), "--model", base, "--output-dir", str(out),
                        "--config", config]
                argv += ["--lora"] * self.spec.lora + ["--packing"] * self.spec.packing
                argv += ["--chat-template", self.spec.chat_template] if self.spec.chat_template else []
                if any(out.glob("checkpoint-*")):
                    argv.append("--resume")  # a killed run continues from its last checkpoint
                steps.append(Step("finetune", str(out), argv, str(out) in models))
        tasks = self._tasks()
        targets = [(label, base, None) for label, base in self.bases.items()]
        targets += [(self.finetuned_label(label, b), str(self.model_dir(label, b)), self.snapshot(b))
                    for label in self.bases for b in self.budgets]
        if self.spec.teacher:
            targets.append(("teacher", self.spec.teacher, None))
        for label, model, snapshot in targets:
            argv = ["eval", "run", "--model", model, "--name", label, "--tasks", ",".join(tasks), *self._eval_flags()]
            argv += ["--snapshot", snapshot] if snapshot else []
            steps.append(Step("eval", label, argv, set(tasks) <= evals.get(label, set())))
        return steps

    def _tasks(self) -> list[str]:
        tasks = list(self.spec.eval.tasks)
        if not self.spec.mixture.get("eval_fraction"):
            dropped = [t for t in tasks if t in ("heldout", "judge")]
            if dropped:
                raise SweepError(f"tasks {', '.join(dropped)} need a held-out split: set mixture.eval_fraction")
        return tasks

    def _eval_flags(self) -> list[str]:
        e = self.spec.eval
        flags: list[str] = []
        for option, value in (("--limit", e.limit), ("--shots", e.shots), ("--batch-size", e.batch_size),
                              ("--max-new-tokens", e.max_new_tokens), ("--judge", e.judge),
                              ("--workers", e.workers), ("--device", e.device)):
            if value is not None:
                flags += [option, str(value)]
        data = e.data if isinstance(e.data, dict) else ({"": e.data} if e.data else {})
        for task, path in data.items():
            flags += ["--data", f"{task}={path}" if task else str(path)]
        if {"heldout", "judge"} & set(e.tasks):
            # Everyone is scored on the smallest snapshot's held-out split: eval splits nest, so
            # it is held out from every model of the sweep, and the numbers are comparable.
            flags += ["--heldout", str(self.registry_dir / "snapshots" / self.snapshot(self.budgets[0]) / "eval.parquet")]
        return flags

    # -- files the steps read ------------------------------------------------------------
    def _mix_spec(self, budget: Any) -> Path:
        path = self.out / "specs" / f"{self.snapshot(budget)}.yaml"
        spec = {**self.spec.mixture, "name": self.snapshot(budget), "budget": budget_label(budget), "unit": self.spec.unit}
        _write_yaml(path, spec)
        return path

    def _finetune_config(self) -> Path:
        path = self.out / "specs" / "finetune.yaml"
        _write_yaml(path, self.spec.finetune)
        return path

    # -- running -------------------------------------------------------------------------
    def run(self, echo: Callable[[str], None]) -> list[Step]:
        steps = self.plan()
        checked = False
        for step in steps:
            if step.kind != "snapshot" and not checked:
                self.check_nesting(echo)  # once every snapshot exists
                checked = True
            if step.done:
                echo(f"[done]  {step.kind:8} {step.label}")
                continue
            echo(f"[run]   {step.kind:8} {step.label}\n        $ imitkit {' '.join(step.argv)}")
            code = self.run_command(["--registry", str(self.registry_dir), *step.argv])
            if code != 0:
                raise SweepError(f"{step.kind} {step.label} failed (exit {code}); fix it and re-run "
                                 f"`imitkit sweep` to resume from this step")
        return steps

    def check_nesting(self, echo: Callable[[str], None]) -> None:
        """Each budget's snapshot must contain the smaller one's conversations (same spec and seed)."""
        previous: set[str] | None = None
        for budget in self.budgets:
            folder = self.registry_dir / "snapshots" / self.snapshot(budget)
            ids = set()
            for split in ("train", "eval"):
                if (folder / f"{split}.parquet").exists():
                    ids |= set(pq.read_table(folder / f"{split}.parquet", columns=["id"]).column("id").to_pylist())
            if previous is not None and not previous <= ids:
                echo(f"warning: snapshot {self.snapshot(budget)} lacks {len(previous - ids)} conversation(s) of the "
                     f"smaller budget: the budgets are not nested (did the registry change between them?)")
            previous = ids


def _write_yaml(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(json.loads(json.dumps(data)), sort_keys=False)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
