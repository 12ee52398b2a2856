"""Errors raised while reading outside data into canonical conversations."""

from imitkit.errors import ImitkitError


class CollectorError(ImitkitError):
    """Base class for collector problems."""


class SourceFileError(CollectorError):
    """A whole input file is unusable (missing, not JSON): a one-line error, nothing written."""


class RecordError(CollectorError):
    """One record cannot be converted; it is quarantined and the import goes on."""
