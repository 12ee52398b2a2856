"""Tokens and loss labels for a conversation, and an independent check of the loss mask.

Labels come from the chat template's ``{% generation %}`` markers (``return_assistant_tokens_mask``,
exactly as TRL computes them). The check derives the assistant's characters another way: for
each assistant turn, the text the template renders for the conversation up to that turn, minus
the text it renders for the turns before it plus the generation prompt. Each token is then
expected to be trained exactly when it overlaps such a span. A template that is not
prefix-preserving, or markers in the wrong place, show up as mismatches before any training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

IGNORE = -100


def normalize_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Registry messages -> template input: ``tool_calls`` JSON text becomes a list, empty ones go."""
    out = []
    for m in messages:
        msg = {"role": m["role"], "content": m.get("content") or ""}
        calls = m.get("tool_calls")
        if calls:
            try:
                msg["tool_calls"] = json.loads(calls) if isinstance(calls, str) else calls
            except json.JSONDecodeError:
                msg["tool_calls"] = calls
        out.append(msg)
    return out


def tokenize_batch(batch: dict[str, list], tokenizer: Any, template: str, assistant_only: bool,
                   max_length: int | None) -> dict[str, list]:
    """``datasets.map(batched=True)`` function: input_ids, labels and per-example counts."""
    conversations = [normalize_messages(m) for m in batch["messages"]]
    try:
        all_ids, all_masks = _encode(tokenizer, template, conversations, assistant_only)
        encoded = [(ids, mask, None) for ids, mask in zip(all_ids, all_masks)]
    except Exception:  # one bad conversation fails the batch: redo one by one to name it
        encoded = []
        for conv in conversations:
            try:
                ids, mask = _encode(tokenizer, template, [conv], assistant_only)
                encoded.append((ids[0], mask[0], None))
            except Exception as e:  # noqa: BLE001 - any template failure is reported per example
                encoded.append(([], [], f"{type(e).__name__}: {e}"[:300]))
    out: dict[str, list] = {k: [] for k in ("input_ids", "labels", "n_tokens", "n_trainable", "n_tokens_full",
                                             "n_trainable_full", "truncated", "error")}
    for ids, mask, error in encoded:
        labels = [t if m else IGNORE for t, m in zip(ids, mask)]
        full, trainable_full = len(ids), count_trainable(labels)
        if max_length is not None and full > max_length:
            ids, labels = ids[:max_length], labels[:max_length]
        for key, value in (("input_ids", ids), ("labels", labels), ("n_tokens", len(ids)),
                           ("n_trainable", count_trainable(labels)), ("n_tokens_full", full),
                           ("n_trainable_full", trainable_full), ("truncated", len(ids) < full), ("error", error)):
            out[key].append(value)
    return out


def _encode(tokenizer: Any, template: str, conversations: list, assistant_only: bool) -> tuple[list, list]:
    out = tokenizer.apply_chat_template(conversations, chat_template=template, tokenize=True, return_dict=True,
                                        return_assistant_tokens_mask=assistant_only)
    ids = [list(x) for x in out["input_ids"]]
    masks = [list(x) for x in out["assistant_masks"]] if assistant_only else [[1] * len(x) for x in ids]
    return ids, masks


def count_trainable(labels: list[int]) -> int:
    """Positions the causal loss uses: labels are shifted, so position 0 is never predicted."""
    return sum(1 for label in labels[1:] if label != IGNORE)


@dataclass
class MaskCheck:
    """The outcome of checking one example's labels against the independent rendering."""

    ok: bool
    problem: str | None = None
    position: int | None = None


def reference_spans(tokenizer: Any, template: str, messages: list[dict[str, Any]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered text and, per assistant turn, its character span found by prefix rendering."""

    def render(msgs: list, prompt: bool = False) -> str:
        return tokenizer.apply_chat_template(msgs, chat_template=template, tokenize=False, add_generation_prompt=prompt)

    full = render(messages)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before, upto = render(messages[:i], prompt=True), render(messages[: i + 1])
        if not upto.startswith(before) or not full.startswith(upto):
            raise ValueError(f"the template is not prefix-preserving at message {i}: rendering the conversation up "
                             "to an assistant turn does not extend the rendering of the turns before it")
        spans.append((len(before), len(upto)))
    return full, spans


def expected_mask(tokenizer: Any, text: str, spans: list[tuple[int, int]]) -> tuple[list[int], list[int | None]]:
    """Token ids of ``text`` and, per token, 1 (trained), 0 (masked) or None (whitespace at a turn edge)."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    expected: list[int | None] = [int(any(s < b and e > a for a, b in spans)) for s, e in offsets]
    special = set(tokenizer.all_special_ids)
    blank = [t not in special and not text[s:e].strip() for t, (s, e) in zip(ids, offsets)]
    # Whether the newline after an end-of-turn token belongs to the turn is a template's
    # choice, not a masking bug: whitespace-only tokens next to a turn boundary may go either way.
    inside = list(expected) + [0]
    edges = [i for i in range(len(ids) + 1) if (inside[i - 1] if i else 0) != inside[i]]
    for edge in edges:
        for step, start in ((-1, edge - 1), (1, edge)):
            j = start
            while 0 <= j < len(ids) and blank[j]:
                expected[j] = None
                j += step
    return ids, expected


def check_example(tokenizer: Any, template: str, messages: list[dict[str, Any]], input_ids: list[int],
                  labels: list[int]) -> MaskCheck:
    """Compare one example's labels token by token with :func:`expected_mask`."""
    try:
        text, spans = reference_spans(tokenizer, template, normalize_messages(messages))
    except Exception as e:  # noqa: BLE001 - reported, not raised: the check lists every problem
        return MaskCheck(False, str(e)[:300])
    ids, expected = expected_mask(tokenizer, text, spans)
    if ids[: len(input_ids)] != list(input_ids):
        at = next((i for i, (a, b) in enumerate(zip(ids, input_ids)) if a != b), min(len(ids), len(input_ids)))
        return MaskCheck(False, "tokenizing the rendered text gives other tokens than the chat template did", at)
    for i, (want, label) in enumerate(zip(expected, labels)):
        if i == 0 or want is None:
            continue
        if want != (label != IGNORE):
            token = tokenizer.decode([ids[i]])
            what = "trained but outside" if label != IGNORE else "masked but inside"
            return MaskCheck(False, f"token {i} {token!r} is {what} an assistant turn", i)
    return MaskCheck(True)


def segments(tokenizer: Any, text: str, labels: list[int]) -> list[tuple[str, str]]:
    """``text`` cut into runs of (kind, text), kind being trained, masked or cut (beyond max_length)."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    runs: list[tuple[str, str]] = []
    end = 0
    for i, (s, e) in enumerate(enc["offset_mapping"]):
        kind = "cut" if i >= len(labels) else "trained" if labels[i] != IGNORE and i > 0 else "masked"
        piece = text[end:e]
        end = max(end, e)
        if runs and runs[-1][0] == kind:
            runs[-1] = (kind, runs[-1][1] + piece)
        elif piece:
            runs.append((kind, piece))
    return runs
