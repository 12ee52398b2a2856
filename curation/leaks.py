"""``leaks`` and ``refusals``: phrases that give the teacher away, matched on word boundaries.

``leaks`` finds the teacher's identity and boilerplate ("as an AI language model",
"OpenAI", "my knowledge cutoff") and ChatGPT web-UI error pages ("Too many requests in
1 hour"); ``refusals`` finds canned refusals. Both look at assistant turns by default.
The drop reason names the first phrase found, so ``curate report`` shows hit rates.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from imitkit.curation.config import opt
from imitkit.curation.step import Step, Verdict
from imitkit.curation.text import role_text

LEAK_PHRASES = [
    "as an AI language model", "as a language model", "as an AI model developed by", "I am an AI language model",
    "OpenAI", "ChatGPT", "GPT-3", "GPT-3.5", "GPT-4", "my knowledge cutoff", "my knowledge cut-off",
    "my training data only goes up to", "I cannot browse", "I can't browse", "I don't have the ability to browse",
    "Too many requests in 1 hour", "network error", "An error occurred. If this issue persists",
    "Only one message at a time", "Something went wrong, please try reloading the conversation",
]
REFUSAL_PHRASES = [
    "I'm sorry, but I cannot", "I'm sorry, but I can't", "I am sorry, but I cannot", "I cannot fulfill",
    "I can't assist with", "I cannot assist with", "I'm not able to provide", "I am unable to provide",
    "it is not appropriate", "it's not appropriate", "goes against my programming", "I cannot comply",
    "I must decline", "I'm not comfortable", "against my guidelines",
]


def phrase_pattern(phrase: str) -> str:
    """A phrase as a regex: whole words only, any run of spaces, either apostrophe.

    ``re:…`` entries are taken as regular expressions.
    """
    if phrase.startswith("re:"):
        return phrase[3:]
    body = r"\s+".join(re.escape(w) for w in phrase.split())
    body = body.replace("'", "['\u2019]")
    return rf"(?<!\w){body}(?!\w)"


class PhraseMatcher:
    def __init__(self, phrases: list[str], case_sensitive: bool):
        # Longest first, so "GPT-3.5" is reported as itself rather than as "GPT-3".
        self.phrases = sorted(dict.fromkeys(phrases), key=len, reverse=True)
        self.case_sensitive = case_sensitive
        plain = [" ".join(p.split()) for p in self.phrases if not p.startswith("re:")]
        self.literals = [p if case_sensitive else p.lower() for p in plain]
        self.always = any(p.startswith("re:") for p in self.phrases)
        flags = 0 if case_sensitive else re.IGNORECASE
        try:
            self.regex = re.compile("|".join(f"(?P<p{i}>{phrase_pattern(p)})" for i, p in enumerate(self.phrases)), flags)
        except re.error as e:
            from imitkit.curation.errors import ConfigError

            raise ConfigError(f"a phrase is not a valid pattern: {e}") from e

    def maybe(self, text: str) -> bool:
        """A cheap substring pre-check (a regex alternation is tried at every position)."""
        if self.always:
            return True
        folded = " ".join(text.replace("\u2019", "'").split())
        folded = folded if self.case_sensitive else folded.lower()
        return any(lit in folded for lit in self.literals)

    def find(self, text: str) -> Counter:
        found: Counter = Counter()
        if self.phrases and self.maybe(text):
            for m in self.regex.finditer(text):
                found[self.phrases[int(m.lastgroup[1:])]] += 1
        return found


class Leaks(Step):
    name = "leaks"
    parallel = True
    DEFAULT = LEAK_PHRASES
    LABEL = "leak"

    @dataclass
    class Config:
        phrases: list = opt(LEAK_PHRASES, "Phrases (whole words, case-insensitive); prefix re: for a regular expression.")
        extra_phrases: list = opt([], "Phrases added to the list above.")
        roles: list = opt(["assistant"], "Roles whose turns are searched.")
        case_sensitive: bool = opt(False, "Match case exactly.")

    def setup(self) -> None:
        self.matcher = PhraseMatcher(self.config.phrases + self.config.extra_phrases, self.config.case_sensitive)

    def judge(self, rows: list[dict]) -> list[Verdict]:
        out = []
        for row in rows:
            text = role_text(row["messages"], tuple(self.config.roles))
            found = self.matcher.find(text) if text else None
            if not found:
                out.append(Verdict(row["id"], True))
                continue
            first = self.matcher.regex.search(text)
            phrase = self.matcher.phrases[int(first.lastgroup[1:])]
            start = max(0, first.start() - 80)
            out.append(Verdict(row["id"], False, f"{self.LABEL}: {phrase}",
                               {"matches": dict(found), "context": text[start:first.end() + 80]}))
        return out


class Refusals(Leaks):
    name = "refusals"
    LABEL = "refusal"

    @dataclass
    class Config:
        phrases: list = opt(REFUSAL_PHRASES, "Refusal phrases (whole words, case-insensitive); prefix re: for a regular expression.")
        extra_phrases: list = opt([], "Phrases added to the list above.")
        roles: list = opt(["assistant"], "Roles whose turns are searched.")
        case_sensitive: bool = opt(False, "Match case exactly.")
