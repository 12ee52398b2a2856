"""Near-duplicate search by ROUGE-L (LCS over word tokens), as Self-Instruct filters new instructions.

Scoring every candidate against every stored text is quadratic; an inverted index
first counts shared tokens, an upper bound on the LCS, so the exact LCS is computed
only for texts that could reach the threshold.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

_TOKEN = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def lcs(a: list[str], b: list[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(a: list[str], b: list[str]) -> float:
    """ROUGE-L F1 between token lists (what rouge_score's ``rougeL`` fmeasure gives)."""
    if not a or not b:
        return 0.0
    common = lcs(a, b)
    return 0.0 if common == 0 else 2 * common / (len(a) + len(b))


class NoveltyIndex:
    def __init__(self, threshold: float = 0.7):
        self.threshold = threshold
        self.texts: list[str] = []
        self.labels: list[str] = []
        self.toks: list[list[str]] = []
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.exact: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.texts)

    def add(self, text: str, label: str = "") -> None:
        toks = tokens(text)
        doc = len(self.texts)
        self.texts.append(text)
        self.labels.append(label)
        self.toks.append(toks)
        self.exact.setdefault(" ".join(toks), doc)
        for tok, count in Counter(toks).items():
            self.postings[tok].append((doc, count))

    def nearest(self, text: str) -> tuple[float, int | None]:
        """The highest ROUGE-L at or above the threshold, and which stored text; (best, None) below it."""
        toks = tokens(text)
        if not toks:
            return 0.0, None
        same = self.exact.get(" ".join(toks))
        if same is not None:
            return 1.0, same
        shared: dict[int, int] = defaultdict(int)
        for tok, count in Counter(toks).items():
            for doc, c in self.postings.get(tok, ()):
                shared[doc] += min(count, c)
        best, which = 0.0, None
        need = self.threshold / 2
        for doc, overlap in shared.items():
            size = len(toks) + len(self.toks[doc])
            if overlap < need * size:  # even a full-overlap LCS could not reach the threshold
                continue
            score = rouge_l(toks, self.toks[doc])
            if score > best:
                best, which = score, doc
        return (best, which) if best >= self.threshold else (best, None)
