"""``split_long``: conversations longer than ``max_tokens`` become parts at turn boundaries.

As FastChat's ``split_long_conversation.py``: each part starts with a user turn (the
system prompt is repeated in each part) and stays under ``max_tokens`` unless one
exchange alone is longer. Parts are new conversations whose metadata names their parent
(``parent_id``, ``part``, ``n_parts``); the parent gets a drop verdict listing its parts.
Without a tokenizer, tokens are approximated as characters / ``chars_per_token``, and the
verdicts say so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from imitkit.curation import store
from imitkit.curation.config import opt
from imitkit.curation.errors import StepError
from imitkit.curation.step import Step, Verdict
from imitkit.registry.records import conversation_id

_PER_MESSAGE_TOKENS = 4  # role markers and separators a chat template adds around each message


def exchanges(messages: list[dict]) -> tuple[list[dict], list[list[dict]]]:
    """Leading system messages, and the rest grouped so that each group starts at a user turn."""
    lead = 0
    while lead < len(messages) and messages[lead]["role"] == "system":
        lead += 1
    groups: list[list[dict]] = []
    for m in messages[lead:]:
        if m["role"] == "user" or not groups:
            groups.append([])
        groups[-1].append(m)
    return messages[:lead], groups


def split(messages: list[dict], count: Any, max_tokens: int, repeat_system: bool) -> list[list[dict]]:
    system, groups = exchanges(messages)
    sys_len = sum(map(count, system)) if repeat_system else 0
    parts: list[list[dict]] = []
    current: list[dict] = []
    length = sys_len
    for group in groups:
        g = sum(map(count, group))
        if current and length + g > max_tokens:
            parts.append(current)
            current, length = [], sys_len
        current += group
        length += g
    if current:
        parts.append(current)
    if repeat_system:
        return [system + p for p in parts]
    return [system + parts[0]] + parts[1:] if parts else []


class SplitLong(Step):
    name = "split_long"

    @dataclass
    class Config:
        max_tokens: int = opt(2048, "Split conversations longer than this many tokens.")
        tokenizer: str = opt(None, "Tokenizer (name or local path, loaded with transformers); none: approximate.")
        chars_per_token: float = opt(4.0, "Characters per token for the approximation used without a tokenizer.")
        repeat_system: bool = opt(True, "Repeat the system prompt at the start of every part.")

    def setup(self) -> None:
        self._tokenizer: Any = None
        self._new: list[dict] = []

    def count(self, message: dict) -> int:
        text = message["content"] or ""
        if self.config.tokenizer is None:
            return math.ceil(len(text) / self.config.chars_per_token) + _PER_MESSAGE_TOKENS
        if self._tokenizer is None:
            try:
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(self.config.tokenizer)
            except Exception as e:  # transformers raises OSError, ValueError, … for a bad name
                raise StepError(f"split_long: cannot load tokenizer {self.config.tokenizer!r}: {e}") from e
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"]) + _PER_MESSAGE_TOKENS

    def judge(self, rows: list[dict]) -> list[Verdict]:
        out = []
        approximate = self.config.tokenizer is None
        for row in rows:
            tokens = sum(map(self.count, row["messages"]))
            parts = split(row["messages"], self.count, self.config.max_tokens, self.config.repeat_system)
            if tokens <= self.config.max_tokens or len(parts) < 2:
                out.append(Verdict(row["id"], True, None, {"tokens": tokens, "approximate": approximate}))
                continue
            ids = [conversation_id(p) for p in parts]
            parent_meta = json.loads(row["metadata"]) if row.get("metadata") else {}
            for k, (pid, part) in enumerate(zip(ids, parts)):
                self._new.append({
                    "id": pid, "source": row["source"], "origin": row["origin"], "teacher_model": row["teacher_model"],
                    "messages": part, "n_turns": sum(m["role"] != "system" for m in part),
                    "n_chars": sum(len(m["content"]) for m in part),
                    "metadata": json.dumps({**parent_meta, "parent_id": row["id"], "part": k, "n_parts": len(parts)},
                                           ensure_ascii=False, default=str)})
            out.append(Verdict(row["id"], False, "split into parts",
                               {"parts": ids, "tokens": tokens, "max_tokens": self.config.max_tokens,
                                "approximate": approximate}))
        return out

    def new_conversations(self) -> pa.Table | None:
        if not self._new:
            return None
        rows, self._new = self._new, []
        columns = {k: [r[k] for r in rows] for k in ("id", "source", "origin", "teacher_model", "n_turns", "n_chars", "metadata")}
        return pa.table({**columns, "messages": store.messages_array([r["messages"] for r in rows])})
