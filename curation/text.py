"""Small text helpers shared by steps: which text a step looks at, and word tokens."""

from __future__ import annotations

import re
import unicodedata

KEYS = ("conversation", "first_user", "assistant")
# The same texts as key_text, computed inside DuckDB so only the text leaves the database.
KEY_SQL = {
    "conversation": "array_to_string(list_transform(messages, lambda m: m.role || ': ' || coalesce(m.content, '')), '\n\n')",
    "first_user": "coalesce(list_filter(messages, lambda m: m.role = 'user')[1].content, '')",
    "assistant": "array_to_string(list_transform(list_filter(messages, lambda m: m.role = 'assistant' "
                 "AND m.content <> ''), lambda m: m.content), '\n\n')",
}
WORD = re.compile(r"\w+")


def role_text(messages: list[dict], roles: tuple[str, ...] | list[str]) -> str:
    return "\n\n".join(m["content"] for m in messages if m["role"] in roles and m["content"])


def key_text(messages: list[dict], key: str) -> str:
    """The text a dedup step compares: the whole conversation, the first user turn, or the answers."""
    if key == "first_user":
        return next((m["content"] for m in messages if m["role"] == "user"), "")
    if key == "assistant":
        return role_text(messages, ("assistant",))
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)


def words(text: str) -> list[str]:
    """Lowercased word tokens (Unicode-aware, punctuation dropped)."""
    return WORD.findall(text.lower())


def match_form(text: str) -> str:
    """The normalised form used to compare text with eval items: NFKC, lowercase, words only."""
    return " ".join(words(unicodedata.normalize("NFKC", text)))
