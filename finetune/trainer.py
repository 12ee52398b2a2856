"""TRL's ``SFTTrainer`` with a count of trainable tokens seen, and a graceful stop on Ctrl-C.

The count is what the loss actually used (labels other than -100 after the causal shift),
summed over processes, saved in every checkpoint and restored on resume, so the model card
states how many teacher tokens the model learned from.

The first SIGINT/SIGTERM asks the trainer to save a checkpoint and stop at the end of the
current step (all processes agree on the step); a second one stops at once.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback
from trl import SFTTrainer

STATE_FILE = "imitkit_state.json"


class ImitkitSFTTrainer(SFTTrainer):
    def __init__(self, *args: Any, trainable_tokens_start: int = 0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.trainable_tokens_start = trainable_tokens_start
        self._local_trainable = torch.zeros((), dtype=torch.long)

    def training_step(self, model: Any, inputs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        labels = inputs.get("shift_labels")
        labels = labels if labels is not None else inputs["labels"][..., 1:]
        # Stays on the device: no host sync per step.
        self._local_trainable = self._local_trainable.to(labels.device) + labels.ne(-100).sum()
        return super().training_step(model, inputs, *args, **kwargs)

    def trainable_tokens_seen(self) -> int:
        """Trainable tokens seen by every process, including before a resume (a collective call)."""
        total = self.accelerator.reduce(self._local_trainable.to(self.args.device), reduction="sum")
        return self.trainable_tokens_start + int(total.item())

    def create_model_card(self, *args: Any, **kwargs: Any) -> None:
        # imitkit writes its own card (lineage: snapshot fingerprint, config, tokens) when training ends.
        return None

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        super()._save_checkpoint(model, trial)
        seen = self.trainable_tokens_seen()
        if self.is_world_process_zero():
            folder = Path(self.args.output_dir) / f"checkpoint-{self.state.global_step}"
            (folder / STATE_FILE).write_text(json.dumps({"trainable_tokens_seen": seen}), encoding="utf-8")


def trainable_tokens_at(checkpoint: str | os.PathLike) -> int:
    try:
        return int(json.loads((Path(checkpoint) / STATE_FILE).read_text(encoding="utf-8"))["trainable_tokens_seen"])
    except (OSError, ValueError, KeyError):
        return 0


class StopOnSignal(TrainerCallback):
    """Turns SIGINT/SIGTERM into 'save a checkpoint and stop'; use as a context manager around ``train``."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self.stopped_at: int | None = None
        self._previous: dict[int, Any] = {}
        self.trainer: Any = None

    def __enter__(self) -> "StopOnSignal":
        for sig in self.SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals to the caller
                pass
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        requested = self.requested
        if self.trainer is not None and self.trainer.accelerator.num_processes > 1:
            # Ranks may see the signal a step apart; stopping on different steps would hang a collective.
            flag = torch.tensor(int(requested), device=args.device)
            requested = bool(self.trainer.accelerator.reduce(flag, reduction="sum").item())
        if requested:
            self.requested = True
            self.stopped_at = state.global_step
            control.should_save = True
            control.should_training_stop = True
        return control
