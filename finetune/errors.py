"""Errors raised by ``imitkit finetune``."""

from imitkit.errors import ImitkitError


class FinetuneError(ImitkitError):
    """Base class for fine-tuning problems."""


class FinetuneConfigError(FinetuneError):
    """An unknown setting, a value of the wrong type, or a missing required one."""


class SnapshotError(FinetuneError):
    """The snapshot is missing, incomplete, or its files no longer match its manifest."""


class ChatTemplateError(FinetuneError):
    """The chat template cannot mark the assistant's tokens (no ``{% generation %}``), or fails to render."""


class CheckFailedError(FinetuneError):
    """The check pass found problems that would silently spoil the run; nothing was trained."""


class CheckpointError(FinetuneError):
    """``--resume`` without a checkpoint, a checkpoint from another snapshot, or one left in the way."""


class ModelLoadError(FinetuneError):
    """The base model or its tokenizer could not be loaded."""
