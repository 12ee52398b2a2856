"""The step table: names in canonical order, where each lives, and the default pipeline.

Steps always run in this order whatever order a config lists them in, because later
steps read the text earlier ones produced (normalised, restructured, PII-masked).
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> ("module:Class", one-line help)
_STEPS: dict[str, tuple[str, str]] = {
    "normalize": ("imitkit.curation.normalize:Normalize",
                  "HTML to Markdown, web-UI artefacts, Unicode NFC, whitespace; empty messages removed."),
    "structure": ("imitkit.curation.structure:Structure",
                  "Merge same-role turns, trim leading assistant / trailing user turns, require a user->assistant pair."),
    "pii": ("imitkit.curation.pii:Pii", "Replace e-mail addresses, phone numbers and API keys with placeholders (opt-in)."),
    "split_long": ("imitkit.curation.split_long:SplitLong",
                   "Split conversations longer than max_tokens at turn boundaries into new conversations (opt-in)."),
    "exact_dedup": ("imitkit.curation.exact_dedup:ExactDedup", "Drop exact duplicates of normalised text, with a keep policy."),
    "near_dedup": ("imitkit.curation.near_dedup:NearDedup",
                   "MinHash near-duplicates: vectorised signatures, numpy LSH banding, verified Jaccard."),
    "language": ("imitkit.curation.language:Language",
                 "Detect language (fastText, langdetect for low confidence); keep configured languages."),
    "leaks": ("imitkit.curation.leaks:Leaks", "Teacher identity and boilerplate (\"as an AI language model\", OpenAI, error pages)."),
    "refusals": ("imitkit.curation.leaks:Refusals", "Canned refusals in assistant turns (opt-in)."),
    "repetition": ("imitkit.curation.repetition:Repetition", "Degenerate outputs: repeated lines and n-grams, long character or digit runs."),
    "decontaminate": ("imitkit.curation.decontaminate:Decontaminate",
                      "Drop conversations whose user turns contain registered eval items (exact or n-gram overlap)."),
}

STEP_NAMES: tuple[str, ...] = tuple(_STEPS)
STEP_HELP = {name: help for name, (_, help) in _STEPS.items()}
DEFAULT_PIPELINE = ("normalize", "structure", "exact_dedup", "near_dedup", "language", "leaks",
                    "repetition", "decontaminate")
OPT_IN = tuple(s for s in STEP_NAMES if s not in DEFAULT_PIPELINE)


def step_class(name: str) -> Any:
    module, attr = _STEPS[name][0].split(":")
    return getattr(importlib.import_module(module), attr)


def config_class(name: str) -> type:
    return step_class(name).Config
