"""imitkit: build, curate, version and test imitation datasets."""

from imitkit.__version__ import __version__

__all__ = ["__version__"]
