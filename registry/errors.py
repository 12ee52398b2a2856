"""Errors raised by the registry (the DuckDB store and its record types)."""

from imitkit.errors import ImitkitError


class RegistryError(ImitkitError):
    """Base class for registry problems."""


class SchemaTooNewError(RegistryError):
    """The registry was written by a newer imitkit whose schema this version does not know."""


class RegistryLockedError(RegistryError):
    """Another process holds the registry's single write lock."""


class ReadOnlyQueryError(RegistryError):
    """A statement other than a query was sent to the read-only SQL entry point."""


class QueryError(RegistryError):
    """A user's SQL failed to parse, bind or run."""


class NotFoundError(RegistryError):
    """A conversation, snapshot or other named object does not exist."""
