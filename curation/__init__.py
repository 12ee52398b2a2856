"""Curation: auditable cleaning, dedup, language, leak and contamination filters.

Every step writes one verdict per conversation it judged (``t_verdict``); the
``conversations`` view derives ``kept``, ``lang`` and the normalised ``messages`` from
them, so raw text is never overwritten and any decision can be traced and re-run.
"""

from imitkit.curation.errors import ConfigError, CurationError, StepError

__all__ = ["ConfigError", "CurationError", "StepError"]
