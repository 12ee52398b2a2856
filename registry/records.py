"""The canonical record types that every stage exchanges through the registry.

A conversation is a list of messages ``{role, content}`` (plus ``tool_calls`` for an
assistant's function calls) in the conversational format TRL and ``datasets`` use.
Its id is a content hash of the canonical messages only, so the same conversation
imported from two files or two sources is one row; where it came from is kept as
occurrences.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

ROLES = ("system", "user", "assistant", "tool")
ORIGINS = ("teacher", "human")
ID_PREFIX = "c:"


def message(role: str, content: str, tool_calls: str | None = None) -> dict[str, Any]:
    """Build one canonical message. ``tool_calls`` is the JSON text of OpenAI-style calls."""
    return {"role": role, "content": content, "tool_calls": tool_calls}


def canonical_json(value: Any) -> str:
    """Compact, key-sorted, UTF-8 JSON: the byte form every fingerprint is taken over."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def conversation_id(messages: list[dict[str, Any]]) -> str:
    """Stable id of a conversation: ``c:`` + 128-bit BLAKE2b of its canonical messages.

    Only role, content and tool calls count; metadata, source and origin do not, so
    re-imports and cross-source copies collapse to one row.
    """
    canon = [
        [m["role"], m["content"]] if not m.get("tool_calls") else [m["role"], m["content"], m["tool_calls"]]
        for m in messages
    ]
    digest = hashlib.blake2b(canonical_json(canon).encode("utf-8"), digest_size=16).hexdigest()
    return ID_PREFIX + digest


@dataclass(slots=True)
class Conversation:
    """One conversation as produced by an importer or a teacher call."""

    messages: list[dict[str, Any]]
    origin: str = "teacher"
    teacher_model: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    record_id: str | None = None  # the dump's own id for the record, when it has one
    part: int = 0  # position among the conversations one record yields (HC3 answers, OASST paths)

    @property
    def id(self) -> str:
        return conversation_id(self.messages)

    @property
    def n_turns(self) -> int:
        return sum(1 for m in self.messages if m["role"] != "system")

    @property
    def n_chars(self) -> int:
        return sum(len(m["content"]) for m in self.messages)


@dataclass(slots=True)
class QuarantinedRecord:
    """A record that could not be read, kept with its location, reason and an excerpt."""

    file: str
    record_index: int | None
    line: int | None
    reason: str
    excerpt: str


EXCERPT_CHARS = 500


def excerpt(raw: Any, limit: int = EXCERPT_CHARS) -> str:
    """A bounded excerpt of a raw record for the quarantine table."""
    if isinstance(raw, bytes):
        text = raw.decode("utf-8", errors="replace")
    elif isinstance(raw, str):
        text = raw
    else:
        try:
            text = json.dumps(raw, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = repr(raw)
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more chars]"
