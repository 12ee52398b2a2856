"""The root of imitkit's error tree.

Each stage package defines one base error deriving from :class:`ImitkitError` and
domain subclasses under it. The CLI catches ``ImitkitError`` and prints a single
``Error: …`` line: anything raised for a user's mistake must derive from it.
"""


class ImitkitError(Exception):
    """A problem the user can act on; its message is shown without a traceback."""
