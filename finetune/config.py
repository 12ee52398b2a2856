"""Settings for ``imitkit finetune``: imitkit's own fields plus every TRL ``SFTConfig`` and ``ModelConfig`` field.

One flat namespace, as in ``trl sft --config``: CLI over YAML over imitkit's defaults over TRL's.
Values from YAML and from ``--name value`` are coerced to the field's declared type
(PyYAML reads ``2e-5`` as a string); unknown names are rejected with the valid ones listed.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from imitkit.configfile import read_yaml_mapping
from imitkit.finetune.coerce import allows, coerce
from imitkit.finetune.errors import FinetuneConfigError

MASK_MISMATCH_CHOICES = ("error", "warn")


@dataclass
class FinetuneArgs:
    """imitkit's own settings (TRL's are passed through untouched)."""

    snapshot: str | None = field(default=None, metadata={"help": "Snapshot to train on (a folder under <registry>/snapshots)."})
    model: str | None = field(default=None, metadata={"help": "Base model: a local directory or a Hub id."})
    tokenizer: str | None = field(default=None, metadata={"help": "Tokenizer directory or id (default: the model's)."})
    chat_template: str | None = field(default=None, metadata={
        "help": "A .jinja chat template with {% generation %} markers (default: the model's own, TRL's training "
                "variant of it, or imitkit's Vicuna v1.1 template)."})
    lora: bool = field(default=False, metadata={
        "help": "Train a LoRA adapter through peft (lora_r, lora_alpha, lora_dropout, lora_target_modules, ...)."})
    resume: bool = field(default=False, metadata={"help": "Continue from the last checkpoint in the output directory."})
    split: str = field(default="train", metadata={"help": "Snapshot split to train on."})
    max_examples: int | None = field(default=None, metadata={"help": "Use only the first N examples (smoke runs)."})
    max_untrainable_fraction: float = field(default=0.01, metadata={
        "help": "Refuse to train when more than this fraction of examples has no trainable token."})
    mask_check_examples: int = field(default=256, metadata={
        "help": "Examples whose loss mask is validated token by token against an independent rendering."})
    on_mask_mismatch: str = field(default="error", metadata={
        "help": "What a loss-mask mismatch does: error (refuse to train) or warn.", "choices": MASK_MISMATCH_CHOICES})


# TRL fields whose imitkit default differs from TRL's. bf16 is decided at build time
# (TRL turns it on unconditionally, which fails on CPU).
SFT_DEFAULTS: dict[str, Any] = {"assistant_only_loss": True, "report_to": "none"}
# ModelConfig fields that duplicate an imitkit setting.
_ALIASES = {"model_name_or_path": "model", "use_peft": "lora"}


@dataclass
class Settings:
    args: FinetuneArgs
    sft: dict[str, Any]  # SFTConfig fields that imitkit or the user set
    model: dict[str, Any]  # ModelConfig fields the user set
    explicit: set[str] = field(default_factory=set)  # names set on the CLI or in YAML

    @property
    def assistant_only_loss(self) -> bool:
        return bool(self.sft.get("assistant_only_loss", False))

    def given(self) -> dict[str, Any]:
        """Only what the user set (CLI or YAML): the run's recorded arguments."""
        every = {**dataclasses.asdict(self.args), **self.sft, **self.model}
        return {name: every.get(name) for name in sorted(self.explicit)}

    def as_dict(self) -> dict[str, Any]:
        """The settings as recorded in the registry and the model card."""
        return {"imitkit": dataclasses.asdict(self.args), "sft": dict(sorted(self.sft.items())),
                "model": dict(sorted(self.model.items()))}


@lru_cache(maxsize=1)
def valid_fields() -> dict[str, dict[str, Any]]:
    """``{group: {name: dataclasses.Field}}`` for imitkit, SFTConfig and ModelConfig."""
    from trl import ModelConfig, SFTConfig

    groups = {"imitkit": FinetuneArgs, "SFTConfig": SFTConfig, "ModelConfig": ModelConfig}
    out: dict[str, dict[str, Any]] = {}
    for group, cls in groups.items():
        hints = typing.get_type_hints(cls)
        out[group] = {f.name: (f, hints.get(f.name, Any)) for f in dataclasses.fields(cls)
                      if f.init and f.name not in _ALIASES}
    return out


def _group_of(name: str) -> str | None:
    return next((g for g, names in valid_fields().items() if name in names), None)


def _unknown(name: str, where: str) -> FinetuneConfigError:
    if name in _ALIASES:
        return FinetuneConfigError(f"{where}: use {_ALIASES[name]!r} instead of {name!r}")
    groups = valid_fields()
    every = [n for names in groups.values() for n in names]
    close = difflib.get_close_matches(name, every, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    listing = "; ".join(f"{g}: {', '.join(sorted(names))}" for g, names in groups.items())
    return FinetuneConfigError(f"{where}: unknown setting {name!r}.{hint} Valid settings are {listing}")


def normalize_name(raw: str) -> str:
    return raw.strip().lstrip("-").replace("-", "_")


def load_settings(cli: dict[str, Any], config_path: str | None = None, extra: list[str] | None = None) -> Settings:
    """Merge imitkit defaults < YAML file < CLI options and ``--name value`` pairs."""
    merged: dict[str, Any] = {}
    if config_path:
        merged.update(_read_yaml(Path(config_path)))
    merged.update(parse_extra_args(extra or []))
    merged.update({normalize_name(k): v for k, v in cli.items() if v is not None})
    explicit = set(merged)
    values: dict[str, dict[str, Any]] = {"imitkit": {}, "SFTConfig": dict(SFT_DEFAULTS), "ModelConfig": {}}
    for name, value in merged.items():
        group = _group_of(name)
        if group is None:
            raise _unknown(name, f"{config_path} / command line" if config_path else "command line")
        f, hint = valid_fields()[group][name]
        values[group][name] = coerce(name, value, hint, f.metadata.get("choices"))
    args = FinetuneArgs(**values["imitkit"])
    return Settings(args, values["SFTConfig"], values["ModelConfig"], explicit)


def _read_yaml(path: Path) -> dict[str, Any]:
    data = read_yaml_mapping(path, FinetuneConfigError)
    out = {}
    for key, value in data.items():
        name = normalize_name(str(key))
        if _group_of(name) is None:
            raise _unknown(name, str(path))
        out[name] = value
    return out


def parse_extra_args(tokens: list[str]) -> dict[str, Any]:
    """``--name value``, ``--name=value``, a bare ``--flag`` (true) and ``--no-flag`` (false)."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--"):
            raise FinetuneConfigError(f"unexpected argument {token!r} (settings are given as --name value)")
        name, eq, value = token[2:].partition("=")
        name = normalize_name(name)
        negated = name.startswith("no_") and _group_of(name) is None and _group_of(name[3:]) is not None
        if negated:
            name = name[3:]
        group = _group_of(name)
        if group is None:
            raise _unknown(name, "command line")
        hint = valid_fields()[group][name][1]
        if eq:
            out[name] = value
        elif negated:
            out[name] = False
        elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            out[name] = tokens[i + 1]
            i += 1
        elif allows(hint, bool):
            out[name] = True
        else:
            raise FinetuneConfigError(f"--{name} needs a value")
        i += 1
    return out


def build_sft_config(settings: Settings, output_dir: str) -> Any:
    """TRL's ``SFTConfig`` for a run whose dataset is already tokenized with its labels."""
    import torch
    from trl import SFTConfig

    kwargs = dict(settings.sft)
    kwargs["output_dir"] = str(output_dir)
    # The labels already carry the assistant-only mask (built and checked by the check pass);
    # TRL's flag would demand raw conversations instead of the checked tokens.
    kwargs["assistant_only_loss"] = False
    if "activation_checkpointing" not in kwargs:
        # transformers 5 renamed gradient_checkpointing (TRL still defaults the old name to True);
        # passing the new name keeps TRL's default without a deprecation warning on every run.
        kwargs["activation_checkpointing"] = kwargs.pop("gradient_checkpointing", True)
        kwargs["gradient_checkpointing"] = None
    if "bf16" not in kwargs and not kwargs.get("fp16"):
        kwargs["bf16"] = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if not torch.cuda.is_available():
        kwargs.setdefault("dataloader_pin_memory", False)  # pinning needs an accelerator; it only warns on CPU
    try:
        return SFTConfig(**kwargs)
    except (ValueError, TypeError) as e:
        raise FinetuneConfigError(f"invalid training settings: {e}") from e
