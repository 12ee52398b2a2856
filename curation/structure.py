"""``structure``: a well-formed turn sequence, as FastChat and open-instruct expect.

Consecutive same-role turns are merged, a leading assistant turn and a trailing user turn
are dropped, and a conversation without a single user -> assistant pair (or shorter than
``min_chars`` in total) is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from imitkit.curation.config import opt
from imitkit.curation.step import Step, Verdict


def restructure(messages: list[dict], merge: bool, separator: str) -> tuple[list[dict], dict]:
    stats = {"merged": 0, "dropped_leading": 0, "dropped_trailing": 0}
    out: list[dict] = []
    for m in messages:
        prev = out[-1] if out else None
        if (merge and prev is not None and prev["role"] == m["role"] and m["role"] in ("user", "assistant")
                and not prev.get("tool_calls") and not m.get("tool_calls")):
            out[-1] = {**prev, "content": prev["content"] + separator + m["content"]}
            stats["merged"] += 1
        else:
            out.append(dict(m))
    first = next((i for i, m in enumerate(out) if m["role"] != "system"), len(out))
    while first < len(out) and out[first]["role"] == "assistant":
        del out[first]
        stats["dropped_leading"] += 1
    while out and out[-1]["role"] == "user":
        out.pop()
        stats["dropped_trailing"] += 1
    return out, {k: v for k, v in stats.items() if v}


def has_exchange(messages: list[dict]) -> bool:
    return any(a["role"] == "user" and b["role"] == "assistant" for a, b in zip(messages, messages[1:]))


class Structure(Step):
    name = "structure"
    parallel = True
    transforms = True

    @dataclass
    class Config:
        merge_same_role: bool = opt(True, "Merge consecutive turns of the same role (user or assistant).")
        separator: str = opt("\n\n", "Text placed between merged turns.")
        min_chars: int = opt(16, "Drop conversations with fewer characters than this in total.")

    def judge(self, rows: list[dict]) -> list[Verdict]:
        out = []
        for row in rows:
            messages, details = restructure(row["messages"], self.config.merge_same_role, self.config.separator)
            changed = messages != row["messages"]
            if not has_exchange(messages):
                out.append(Verdict(row["id"], False, "no user->assistant pair", details or None))
            elif sum(len(m["content"]) for m in messages) < self.config.min_chars:
                out.append(Verdict(row["id"], False, "too short", details or None))
            else:
                out.append(Verdict(row["id"], True, None, details or None, messages if changed else None))
        return out
