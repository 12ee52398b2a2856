"""Converters from real dump formats to canonical conversations.

Each format is a small function ``record -> list[Conversation]`` that raises
:class:`RecordError` with a reason for a record it cannot read; the importer
quarantines that record and goes on. ``sniff`` picks a format from a record's keys.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from imitkit.collectors.errors import RecordError
from imitkit.collectors.roles import canonical_role
from imitkit.registry.records import Conversation, message

_SPLIT_ID = re.compile(r"^(.+)_(\d+)$")
SHAREGPT_TURN_KEYS = ("conversations", "conversation", "items", "messages")


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) for p in value):
        # OpenAI content parts: keep the text parts, in order.
        texts = [p.get("text") for p in value if p.get("type", "text") == "text"]
        if all(isinstance(t, str) for t in texts) and texts:
            return "".join(texts)
    raise RecordError(f"{where} is {type(value).__name__}, expected a string")


def _record_id(record: dict, metadata: dict) -> str | None:
    rid = record.get("id", record.get("conversation_id"))
    if rid is None:
        return None
    rid = str(rid)
    split = _SPLIT_ID.match(rid)
    if split:  # ShareGPT V3 splits long chats into ID_0, ID_1, …: keep the lineage
        metadata["split_parent"], metadata["split_index"] = split.group(1), int(split.group(2))
    return rid


def _extra(record: dict, used: tuple[str, ...]) -> dict:
    return {k: v for k, v in record.items() if k not in used}


def _tool_call(raw: str) -> str:
    try:
        call = json.loads(raw)
    except ValueError:
        call = {"name": None, "arguments": raw}
    if not isinstance(call, dict):
        call = {"name": None, "arguments": call}
    arguments = call.get("arguments", call.get("parameters", {}))
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    return json.dumps([{"type": "function", "function": {"name": call.get("name"), "arguments": arguments}}],
                      ensure_ascii=False)


def turns_to_messages(turns: Any, role_key: str, text_key: str) -> list[dict]:
    if not isinstance(turns, list):
        raise RecordError(f"turns are {type(turns).__name__}, expected a list")
    if not turns:
        raise RecordError("no messages")
    messages = []
    for i, turn in enumerate(turns, start=1):
        if not isinstance(turn, dict):
            raise RecordError(f"turn {i} is {type(turn).__name__}, expected an object")
        if role_key not in turn:
            raise RecordError(f"turn {i} has no {role_key!r} field")
        role = canonical_role(turn[role_key], i)
        content = _text(turn.get(text_key), f"turn {i} {text_key!r}")
        if role == "function_call":
            messages.append(message("assistant", "", _tool_call(content)))
        else:
            calls = turn.get("tool_calls")
            messages.append(message(role, content, json.dumps(calls, ensure_ascii=False) if calls else None))
    return messages


def _turn_keys(turns: list, default: tuple[str, str]) -> tuple[str, str]:
    first = next((t for t in turns if isinstance(t, dict)), {})
    if "from" in first:
        return "from", "value"
    if "role" in first:
        return "role", "content"
    return default


def sharegpt(record: Any, ctx: "FormatContext") -> list[Conversation]:
    if isinstance(record, list):
        record = {"conversations": record}
    if not isinstance(record, dict):
        raise RecordError(f"record is {type(record).__name__}, expected an object")
    key = next((k for k in SHAREGPT_TURN_KEYS if k in record), None)
    if key is None:
        raise RecordError("no 'conversations' list")
    turns = record[key]
    default = ("role", "content") if key == "messages" else ("from", "value")
    role_key, text_key = _turn_keys(turns, default) if isinstance(turns, list) else default
    messages = turns_to_messages(turns, role_key, text_key)
    system = record.get("system")
    if system and messages[0]["role"] != "system":
        messages.insert(0, message("system", _text(system, "'system'")))
    metadata = _extra(record, (key, "system", "id"))
    rid = _record_id(record, metadata)
    return [Conversation(messages, ctx.origin, ctx.teacher_model, metadata, rid)]


def messages_format(record: Any, ctx: "FormatContext") -> list[Conversation]:
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        raise RecordError("no 'messages' list")
    return sharegpt(record, ctx)


def alpaca(record: Any, ctx: "FormatContext") -> list[Conversation]:
    if not isinstance(record, dict):
        raise RecordError(f"record is {type(record).__name__}, expected an object")
    if "instruction" not in record:
        raise RecordError("no 'instruction' field")
    out_key = "output" if "output" in record else "response" if "response" in record else None
    if out_key is None:
        raise RecordError("no 'output' field")
    instruction = _text(record["instruction"], "'instruction'")
    extra_input = _text(record.get("input"), "'input'")
    messages = []
    if record.get("system"):
        messages.append(message("system", _text(record["system"], "'system'")))
    history = record.get("history") or []
    if not isinstance(history, list):
        raise RecordError("'history' is not a list of [prompt, answer] pairs")
    for i, pair in enumerate(history, start=1):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise RecordError(f"history item {i} is not a [prompt, answer] pair")
        messages += [message("user", _text(pair[0], f"history {i} prompt")),
                     message("assistant", _text(pair[1], f"history {i} answer"))]
    prompt = f"{instruction}\n\n{extra_input}" if extra_input.strip() else instruction
    messages += [message("user", prompt), message("assistant", _text(record[out_key], f"{out_key!r}"))]
    metadata = _extra(record, ("instruction", "input", out_key, "system", "history", "id"))
    return [Conversation(messages, ctx.origin, ctx.teacher_model, metadata, _record_id(record, metadata))]


def hc3(record: Any, ctx: "FormatContext") -> list[Conversation]:
    if not isinstance(record, dict) or "question" not in record:
        raise RecordError("no 'question' field")
    question = _text(record["question"], "'question'")
    subset = record.get("source") or ctx.file_stem
    metadata = {"hc3_subset": subset, **_extra(record, ("question", "human_answers", "chatgpt_answers", "id", "source"))}
    rid = _record_id(record, metadata)
    conversations = []
    part = 0
    for key, origin, model in (("human_answers", "human", None), ("chatgpt_answers", "teacher", "chatgpt")):
        answers = record.get(key) or []
        if not isinstance(answers, list):
            raise RecordError(f"{key!r} is {type(answers).__name__}, expected a list")
        for i, answer in enumerate(answers):
            text = _text(answer, f"{key}[{i}]")
            msgs = [message("user", question), message("assistant", text)]
            conversations.append(Conversation(msgs, origin, model, dict(metadata), rid, part))
            part += 1
    if not conversations:
        raise RecordError("no human or chatgpt answers")
    return conversations


def oasst(record: Any, ctx: "FormatContext") -> list[Conversation]:
    """OpenAssistant export trees: one conversation per root-to-leaf path of live messages."""
    if not isinstance(record, dict) or not isinstance(record.get("prompt"), dict):
        raise RecordError("no 'prompt' message tree")
    tree_id = record.get("message_tree_id")
    conversations: list[Conversation] = []

    def walk(node: dict, path: list[dict]) -> None:
        if node.get("deleted"):
            return
        if "role" not in node or "text" not in node:
            raise RecordError(f"message {node.get('message_id')} has no role or text")
        path = path + [node]
        replies = [r for r in node.get("replies") or [] if isinstance(r, dict) and not r.get("deleted")]
        if not replies:
            conversations.append(_oasst_path(path, tree_id, len(conversations)))
        for reply in replies:
            walk(reply, path)

    walk(record["prompt"], [])
    return conversations


def _oasst_path(path: list[dict], tree_id: Any, part: int) -> Conversation:
    messages = [message(canonical_role(m["role"], i), _text(m["text"], f"message {i} 'text'"))
                for i, m in enumerate(path, start=1)]
    synthetic = [m.get("model_name") for m in path if m.get("synthetic") and m.get("role") == "assistant"]
    metadata = {"message_tree_id": tree_id, "message_ids": [m.get("message_id") for m in path],
                "lang": path[0].get("lang"), "ranks": [m.get("rank") for m in path]}
    origin, model = ("teacher", synthetic[0]) if synthetic else ("human", None)
    return Conversation(messages, origin, model, metadata, str(tree_id) if tree_id else None, part)


class FormatContext:
    """Per-file settings a converter may use."""

    def __init__(self, origin: str, teacher_model: str | None, file_stem: str):
        self.origin = origin
        self.teacher_model = teacher_model
        self.file_stem = file_stem


Converter = Callable[[Any, FormatContext], list[Conversation]]
FORMATS: dict[str, Converter] = {
    "sharegpt": sharegpt, "hc3": hc3, "alpaca": alpaca, "messages": messages_format, "oasst": oasst,
}
# What each format's records are, when no --origin says otherwise.
DEFAULT_ORIGIN = {"sharegpt": "teacher", "hc3": "teacher", "alpaca": "teacher", "messages": "teacher", "oasst": "human"}


def sniff(record: Any) -> str | None:
    """Guess a record's format from its keys; None when nothing fits."""
    if isinstance(record, list):
        return "sharegpt" if record and isinstance(record[0], dict) and ("from" in record[0] or "role" in record[0]) else None
    if not isinstance(record, dict):
        return None
    if "question" in record and ("human_answers" in record or "chatgpt_answers" in record):
        return "hc3"
    if "message_tree_id" in record or isinstance(record.get("prompt"), dict):
        return "oasst"
    if "messages" in record and isinstance(record["messages"], list):
        first = next((t for t in record["messages"] if isinstance(t, dict)), {})
        return "sharegpt" if "from" in first else "messages"
    if any(k in record for k in SHAREGPT_TURN_KEYS[:3]):
        return "sharegpt"
    if "instruction" in record and ("output" in record or "response" in record):
        return "alpaca"
    return None
