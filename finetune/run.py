"""The ``imitkit finetune`` flow: snapshot -> check pass -> TRL SFT -> model, card and registry record.

Under ``accelerate launch`` every process runs this same code; only the main process prints
the report, writes lineage files and records the run in the registry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from imitkit.finetune.check import CheckReport, print_report, run_check
from imitkit.finetune.config import Settings, build_sft_config
from imitkit.finetune.errors import CheckFailedError, CheckpointError, FinetuneConfigError, ModelLoadError
from imitkit.finetune.lineage import Lineage, Outcome, ensure_resumable, record, write_lineage
from imitkit.finetune.snapshot import Snapshot, load_split, open_snapshot
from imitkit.finetune.template import ChosenTemplate, choose_template

WEIGHT_FILES = ("config.json", "adapter_config.json")


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped training after saving a checkpoint; carries how far it got."""

    def __init__(self, outcome: Outcome):
        super().__init__()
        self.outcome = outcome


@dataclass
class Prepared:
    snapshot: Snapshot
    tokenizer: Any
    template: ChosenTemplate
    report: CheckReport
    train: Any  # tokenized: input_ids, labels
    eval: Any | None


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def default_output_dir(registry_root: Path, snapshot: str, model: str) -> Path:
    return Path(registry_root) / "models" / f"{snapshot}--{Path(model.rstrip('/')).name}"


def prepare(settings: Settings, registry_root: Path, console: Any, with_eval: bool = True) -> Prepared:
    """Everything before the model is loaded: snapshot, tokenizer, template and the check pass."""
    args = settings.args
    for name in ("snapshot", "model"):
        if not getattr(args, name):
            raise FinetuneConfigError(f"--{name} is required (on the command line or in --config)")
    snapshot = open_snapshot(registry_root, args.snapshot)
    dataset = load_split(snapshot, args.split, args.max_examples)
    tokenizer = load_tokenizer(args.tokenizer or args.model, settings)
    template = choose_template(tokenizer, args.chat_template, settings.assistant_only_loss)
    report, train = run_check(dataset, tokenizer, template, settings, snapshot, args.split)
    if is_main_process():
        print_report(report, console)
    eval_set = None
    if with_eval and args.split == "train" and snapshot.has_split("eval"):
        # The snapshot's held-out split gives the run a final eval_loss (and eval_strategy its data).
        quiet = replace(settings, args=replace(args, mask_check_examples=0))
        _, eval_set = run_check(load_split(snapshot, "eval"), tokenizer, template, quiet, snapshot, "eval")
        eval_set = eval_set if len(eval_set) else None
    return Prepared(snapshot, tokenizer, template, report, train, eval_set)


def load_tokenizer(name: str, settings: Settings) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name, revision=settings.model.get("model_revision", "main"),
                                             trust_remote_code=settings.sft.get("trust_remote_code", False))
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"cannot load the tokenizer of {name}: {str(e).splitlines()[0]}") from e


def check_only(settings: Settings, registry_root: Path, console: Any) -> CheckReport:
    return prepare(settings, registry_root, console, with_eval=False).report


def finetune(settings: Settings, registry_root: Path, console: Any, arguments: dict[str, Any]) -> tuple[Outcome, str | None]:
    """Check, train, save; returns the outcome and the registry run id (None off the main process)."""
    from imitkit.registry.runs import code_version, utcnow

    prep = prepare(settings, registry_root, console)
    problems = prep.report.problems()
    if problems:
        raise CheckFailedError("check failed, nothing trained: " + "; ".join(problems))
    args = settings.args
    output_dir = Path(settings.sft.get("output_dir") or default_output_dir(registry_root, args.snapshot, args.model))
    output_dir = output_dir.expanduser().resolve()
    checkpoint = find_checkpoint(output_dir, args.resume)
    settings = replace(settings, sft={**settings.sft, "output_dir": str(output_dir)})
    # A local base model is recorded by absolute path, so eval finds it from any directory.
    base_model = str(Path(args.model).resolve()) if Path(args.model).exists() else args.model
    lineage = Lineage(
        snapshot=prep.snapshot.name, snapshot_fingerprint=prep.snapshot.fingerprint, snapshot_split=args.split,
        base_model=base_model, adapter=args.lora, chat_template=prep.template.source,
        chat_template_sha256=prep.template.sha256, settings=settings.as_dict(), code_version=code_version(),
        started_at=utcnow().isoformat(), check={k: v for k, v in prep.report.to_dict().items() if k != "example"})
    if checkpoint:
        ensure_resumable(output_dir, lineage)
    if is_main_process():
        write_lineage(output_dir, lineage)
    outcome, error = None, None
    try:
        outcome = _train(prep, settings, output_dir, checkpoint, console)
    except BaseException as e:  # recorded in the registry, then re-raised by record()
        error = e
        outcome = e.outcome if isinstance(e, TrainingInterrupted) else None
    _leave_process_group(wait=error is None)
    if not is_main_process():
        if error is not None:
            raise error
        return outcome, None
    run_id = record(registry_root, {"output_dir": str(output_dir), **arguments}, lineage, outcome, error)
    return outcome, run_id


def _leave_process_group(wait: bool) -> None:
    """Close the process group torchrun/accelerate opened, on every rank.

    Trainers leave it open; a rank that exits with it open can abort in the C++ teardown
    (seen: SIGABRT, "terminate called without an active exception", on rank 1 under gloo).
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()  # every rank has saved; nobody is mid-collective
        dist.destroy_process_group()


def find_checkpoint(output_dir: Path, resume: bool) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None
    if resume and not last:
        raise CheckpointError(f"--resume: no checkpoint-N folder in {output_dir}")
    if not resume:
        if last:
            raise CheckpointError(f"{output_dir} already holds {Path(last).name}: add --resume to continue that "
                                  "run, or choose another --output-dir")
        if any((output_dir / f).exists() for f in WEIGHT_FILES):
            raise CheckpointError(f"{output_dir} already holds a trained model; choose another --output-dir")
    return last


def _train(prep: Prepared, settings: Settings, output_dir: Path, checkpoint: str | None, console: Any) -> Outcome:
    from imitkit.finetune.trainer import ImitkitSFTTrainer, StopOnSignal, trainable_tokens_at

    model = load_model(settings)
    tokenizer = prep.tokenizer
    tokenizer.chat_template = prep.template.text  # saved with the model: inference renders as training did
    trainer = ImitkitSFTTrainer(
        model=model, args=build_sft_config(settings, str(output_dir)), train_dataset=prep.train,
        eval_dataset=prep.eval, processing_class=tokenizer, peft_config=peft_config(settings),
        trainable_tokens_start=trainable_tokens_at(checkpoint) if checkpoint else 0)
    stopper = StopOnSignal()
    stopper.trainer = trainer
    trainer.add_callback(stopper)
    with stopper:
        result = trainer.train(resume_from_checkpoint=checkpoint)
    seen = trainer.trainable_tokens_seen()
    if stopper.requested:
        if is_main_process():
            console.print(f"[yellow]interrupted[/yellow] at step {trainer.state.global_step}: checkpoint saved in "
                          f"{output_dir}; run the same command with --resume to continue")
        raise TrainingInterrupted(Outcome(str(output_dir), trainer.state.global_step, seen, {}, len(prep.train)))
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    metrics = {"train_loss": result.training_loss, "final_loss": losses[-1] if losses else None,
               "epoch": trainer.state.epoch, "train_runtime": result.metrics.get("train_runtime")}
    if prep.eval is not None:
        metrics["eval_loss"] = trainer.evaluate().get("eval_loss")
    trainer.save_model(str(output_dir))
    trainer.save_state()  # trainer_state.json: the loss curve and step count next to the model
    return Outcome(str(output_dir), trainer.state.global_step, seen,
                   {k: v for k, v in metrics.items() if v is not None}, len(prep.train))


def load_model(settings: Settings) -> Any:
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"revision": settings.model.get("model_revision", "main"),
                              "trust_remote_code": settings.sft.get("trust_remote_code", False)}
    dtype = settings.model.get("dtype")
    if dtype:
        import torch

        kwargs["dtype"] = dtype if dtype == "auto" else getattr(torch, dtype)
    if settings.model.get("attn_implementation"):
        kwargs["attn_implementation"] = settings.model["attn_implementation"]
    kwargs.update(settings.sft.get("model_init_kwargs") or {})
    try:
        return AutoModelForCausalLM.from_pretrained(settings.args.model, **kwargs)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"cannot load model {settings.args.model}: {str(e).splitlines()[0]}") from e


def peft_config(settings: Settings) -> Any:
    if not settings.args.lora:
        return None
    from trl import ModelConfig, get_peft_config

    return get_peft_config(ModelConfig(model_name_or_path=settings.args.model, use_peft=True, **settings.model))
