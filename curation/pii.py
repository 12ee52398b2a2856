"""``pii`` (opt-in): e-mail addresses, phone numbers and API-key-like strings become placeholders.

The masked text is a new message version (the raw text stays); the verdict keeps the
conversation and records how many of each kind were replaced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from imitkit.curation.config import opt
from imitkit.curation.step import Step, Verdict

PATTERNS = {
    "email": (r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?!\w)", "<EMAIL>"),
    "api_key": (r"(?<![\w-])(?:sk-(?:proj-)?[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}"
                r"|hf_[A-Za-z0-9]{30,}|xox[abposr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35})(?![\w-])", "<API_KEY>"),
    "phone": (r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]\d{3,4}(?![\w-])", "<PHONE>"),
}


class Pii(Step):
    name = "pii"
    parallel = True
    transforms = True

    @dataclass
    class Config:
        kinds: list = opt(list(PATTERNS), "Which kinds to replace.")
        roles: list = opt(["user", "assistant", "system"], "Roles whose turns are masked.")

    def setup(self) -> None:
        unknown = [k for k in self.config.kinds if k not in PATTERNS]
        if unknown:
            from imitkit.curation.errors import ConfigError

            raise ConfigError(f"pii.kinds: unknown kind(s) {', '.join(unknown)}; valid: {', '.join(PATTERNS)}")
        self.patterns = [(k, re.compile(PATTERNS[k][0]), PATTERNS[k][1]) for k in PATTERNS if k in self.config.kinds]

    def mask(self, text: str, counts: dict) -> str:
        for kind, pattern, placeholder in self.patterns:
            text, n = pattern.subn(placeholder, text)
            if n:
                counts[kind] = counts.get(kind, 0) + n
        return text

    def judge(self, rows: list[dict]) -> list[Verdict]:
        out = []
        for row in rows:
            counts: dict = {}
            messages = [{**m, "content": self.mask(m["content"], counts)} if m["role"] in self.config.roles else m
                        for m in row["messages"]]
            out.append(Verdict(row["id"], True, None, counts or None, messages if counts else None))
        return out
