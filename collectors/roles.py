"""Role vocabularies of real dumps, mapped onto system | user | assistant | tool."""

from __future__ import annotations

from imitkit.collectors.errors import RecordError

ROLE_ALIASES = {
    "human": "user", "user": "user", "prompter": "user",
    "gpt": "assistant", "chatgpt": "assistant", "bard": "assistant", "bing": "assistant",
    "assistant": "assistant", "model": "assistant", "bot": "assistant",
    "system": "system",
    "observation": "tool", "tool": "tool", "function": "tool", "ipython": "tool",
    "function_call": "function_call",  # an assistant's tool call; converted by the format
}


def canonical_role(raw: object, turn: int) -> str:
    if not isinstance(raw, str):
        raise RecordError(f"turn {turn}: role is {type(raw).__name__}, expected a string")
    role = ROLE_ALIASES.get(raw.strip().lower())
    if role is None:
        raise RecordError(f"turn {turn}: unknown role {raw!r}")
    return role
