"""Style statistics of answers: the "looks like the teacher" side of the imitation gap.

The paper found that imitation models copy ChatGPT's style (length, lists, confident
tone) far better than its knowledge; these numbers put that next to the benchmarks.
"""

from __future__ import annotations

import re
from statistics import mean

LIST_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+\S", re.MULTILINE)
MARKDOWN = re.compile(r"^#{1,6}\s|\*\*[^*\n]+\*\*|^```|^\s*\|.*\|\s*$", re.MULTILINE)
HEDGES = (
    "as an ai", "as a language model", "i'm not sure", "i am not sure", "i cannot", "i can't",
    "it depends", "it is important to note", "it's important to note", "however,", "may vary",
    "i don't have", "i do not have", "consult a", "generally", "typically",
)


def hedge_count(text: str) -> int:
    lower = text.lower()
    return sum(lower.count(h) for h in HEDGES)


def style_stats(answers: list[str]) -> dict[str, float]:
    """Mean length and the share of answers using lists, markdown and hedging phrases."""
    if not answers:
        return {}
    return {
        "words": mean(len(a.split()) for a in answers),
        "chars": mean(len(a) for a in answers),
        "list_rate": mean(1.0 if LIST_LINE.search(a) else 0.0 for a in answers),
        "markdown_rate": mean(1.0 if MARKDOWN.search(a) else 0.0 for a in answers),
        "hedge_rate": mean(1.0 if hedge_count(a) else 0.0 for a in answers),
    }
