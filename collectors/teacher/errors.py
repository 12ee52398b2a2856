"""Errors of teacher collection."""

from imitkit.collectors.errors import CollectorError


class TeacherError(CollectorError):
    """Base class for teacher collection problems."""


class ConfigError(TeacherError):
    """A bad option, config file, price table or task definition."""


class PromptSourceError(TeacherError):
    """The prompts to answer cannot be read."""


class AuthError(TeacherError):
    """The API refused the key (401/403): no further request can succeed."""


class BatchError(TeacherError):
    """A Batch API job cannot be created, found or collected."""
