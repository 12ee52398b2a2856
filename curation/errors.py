"""Errors raised by curation: bad configs, unknown steps, failed steps."""

from imitkit.errors import ImitkitError


class CurationError(ImitkitError):
    """Base class for curation problems."""


class ConfigError(CurationError):
    """A curation config (YAML, --set or --steps) names an unknown key or holds a bad value."""


class StepError(CurationError):
    """A step could not run (missing tokenizer, unreadable eval set, …)."""
