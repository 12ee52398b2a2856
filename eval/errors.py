"""Errors raised by the eval harness."""

from imitkit.errors import ImitkitError


class EvalError(ImitkitError):
    """Base class for eval harness problems."""


class EvalDataError(EvalError):
    """An eval data file is missing or malformed, or a predictions file does not match it."""


class ModelSpecError(EvalError):
    """A ``--model`` spec cannot be parsed or loaded."""


class ModelCallError(EvalError):
    """A model (local or behind an API) failed while producing outputs."""


class SandboxError(EvalError):
    """The code sandbox itself could not run (not a failing sample: that is a result)."""
