"""``repetition``: degenerate outputs of a teacher stuck in a loop.

Checks assistant turns for a line repeated many times, a large share of duplicated word
n-grams (Gopher / datatrove's repetition filter, with thresholds loosened for chat, where
code and tables legitimately repeat), one character repeated in a long run, and a long
run of digits.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from imitkit.curation.config import opt
from imitkit.curation.step import Step, Verdict
from imitkit.curation.text import WORD


def duplicate_ngram_fraction(words: list[str], n: int) -> float:
    """Share of word n-grams that repeat an earlier n-gram of the same text."""
    grams = list(zip(*(words[i:] for i in range(n))))
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


class Repetition(Step):
    name = "repetition"
    parallel = True

    @dataclass
    class Config:
        max_line_repeats: int = opt(10, "Drop when one line (of at least min_line_chars) appears more often than this.")
        min_line_chars: int = opt(12, "Shorter lines (braces, separators, blank) are ignored when counting repeats.")
        ngram: int = opt(10, "Word n-gram size for the duplicated n-gram share.")
        max_dup_ngram_frac: float = opt(0.5, "Drop when more than this share of word n-grams are repeats.")
        min_words: int = opt(60, "Texts with fewer words skip the n-gram check.")
        max_char_run: int = opt(100, "Drop when one character (other than spaces and - = _ * # ~ .) repeats this many times in a row.")
        max_digit_run: int = opt(100, "Drop when a run of digits is this long.")
        roles: list = opt(["assistant"], "Roles whose turns are checked.")

    def setup(self) -> None:
        c = self.config
        self.char_run = re.compile(r"([^\s\-=_*#~.])\1{%d,}" % (c.max_char_run - 1))
        self.digit_run = re.compile(r"\d{%d,}" % c.max_digit_run)

    def problem(self, text: str) -> tuple[str, dict] | None:
        c = self.config
        lines = Counter(line.strip() for line in text.splitlines() if len(line.strip()) >= c.min_line_chars)
        if lines:
            line, count = lines.most_common(1)[0]
            if count > c.max_line_repeats:
                return "repeated line", {"line": line[:200], "count": count}
        words = WORD.findall(text.lower())
        if len(words) >= c.min_words:
            frac = duplicate_ngram_fraction(words, c.ngram)
            if frac > c.max_dup_ngram_frac:
                return "repeated n-grams", {"fraction": round(frac, 4), "n": c.ngram}
        m = self.char_run.search(text)
        if m:
            return "character run", {"char": m.group(1), "length": len(m.group(0))}
        m = self.digit_run.search(text)
        if m:
            return "digit run", {"length": len(m.group(0)), "start": m.group(0)[:20]}
        return None

    def judge(self, rows: list[dict]) -> list[Verdict]:
        out = []
        for row in rows:
            found = None
            for m in row["messages"]:
                if m["role"] in self.config.roles and m["content"]:
                    found = self.problem(m["content"])
                    if found:
                        break
            out.append(Verdict(row["id"], True) if found is None else Verdict(row["id"], False, found[0], found[1]))
        return out
