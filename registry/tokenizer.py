"""Exact token counts of conversations under a named tokenizer and chat template.

Trainable tokens are the assistant tokens a model is trained on. With a template that
marks them (``{% generation %}``) they come from ``return_assistant_tokens_mask``; for
any other template they are measured by prefix differences, the way open-instruct masks
labels: for each assistant turn, tokens(conversation up to and including the turn) minus
tokens(conversation before it, with the generation prompt).

Everything here runs in worker processes too, so it imports transformers lazily and
keeps one loaded :class:`Counter` per process.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imitkit.registry.chat_template import DEFAULT_TEMPLATE_NAME, default_chat_template
from imitkit.registry.errors import RegistryError
from imitkit.registry.records import canonical_json

_GENERATION_TAG = re.compile(r"{%-?\s*generation\s*-?%}")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                    "merges.txt", "tokenizer.model", "vocab.txt")


class TokenizerError(RegistryError):
    """The tokenizer or chat template cannot be loaded or used."""


@dataclass(frozen=True)
class TokenizerSpec:
    """What identifies a token count: the tokenizer as named, its files, and the chat template."""

    name: str
    template: str
    template_source: str  # a file path, or "tokenizer"
    files_sha256: str  # of the local tokenizer files ("" for a hub id)

    @property
    def template_sha256(self) -> str:
        return hashlib.sha256(self.template.encode("utf-8")).hexdigest()

    @property
    def trainable_method(self) -> str:
        return "generation-mask" if _GENERATION_TAG.search(self.template) else "prefix-diff"

    @property
    def key(self) -> str:
        """Cache key: changes when the tokenizer files or the template change, not when a path moves."""
        ident = [self.files_sha256 or self.name, self.template_sha256]
        return "tk:" + hashlib.sha256(canonical_json(ident).encode()).hexdigest()[:24]


def _load_tokenizer(name: str) -> Any:
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(name)
    except Exception as e:  # transformers raises OSError, ValueError, HTTP errors…
        raise TokenizerError(f"cannot load tokenizer {name!r}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from e


def resolve(name: str, chat_template: str | None = None) -> TokenizerSpec:
    """Load ``name`` once to check it and read its template; return what identifies the counts."""
    tokenizer = _load_tokenizer(name)
    if chat_template:
        path = Path(chat_template).expanduser()
        try:
            template = path.read_text(encoding="utf-8")
        except OSError as e:
            raise TokenizerError(f"cannot read chat template {path}: {e.strerror or e}") from e
        source = str(path.resolve())
    else:
        template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None
        source = "tokenizer"
        if not template:
            # The template `imitkit finetune` trains with when the tokenizer has none, so the
            # budget counts the tokens that will be trained on.
            if not tokenizer.eos_token:
                raise TokenizerError(f"tokenizer {name!r} has no chat template and no eos token for the default "
                                     "one; pass --chat-template FILE")
            template, source = default_chat_template(), DEFAULT_TEMPLATE_NAME
    local = Path(name).expanduser()
    digest = ""
    if local.is_dir():
        h = hashlib.sha256()
        for file in _TOKENIZER_FILES:
            if (local / file).is_file():
                h.update(file.encode() + b"\0" + (local / file).read_bytes())
        digest = h.hexdigest()
    return TokenizerSpec(str(local.resolve()) if local.is_dir() else name, template, source, digest)


def to_chat(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Registry messages → what chat templates expect (tool calls parsed from their JSON text)."""
    out = []
    for m in messages:
        msg: dict[str, Any] = {"role": m["role"], "content": m.get("content") or ""}
        if m.get("tool_calls"):
            try:
                msg["tool_calls"] = json.loads(m["tool_calls"])
            except ValueError:
                msg["tool_calls"] = m["tool_calls"]
        out.append(msg)
    return out


class Counter:
    """Counts (total, trainable) tokens of conversations; errors are per conversation."""

    def __init__(self, spec: TokenizerSpec):
        self.spec = spec
        self.tokenizer = _load_tokenizer(spec.name)
        self.tokenizer.chat_template = spec.template
        self.use_mask = spec.trainable_method == "generation-mask"

    def count(self, conversations: list[list[dict[str, Any]]]) -> list[tuple[int | None, int | None, str | None]]:
        chats = [to_chat(c) for c in conversations]
        if self.use_mask:
            try:  # one batched call: the fast tokenizer encodes the batch in parallel
                return self._masked(chats)
            except Exception:  # noqa: BLE001 - find the conversation(s) at fault one by one
                pass
        results = []
        for chat in chats:
            try:
                results.append(self._masked([chat])[0] if self.use_mask else self._prefix_diff(chat))
            except Exception as e:  # noqa: BLE001 - a template error for one conversation is data
                results.append((None, None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]))
        return results

    def _masked(self, chats: list[list[dict[str, Any]]]) -> list[tuple[int, int, None]]:
        out = self.tokenizer.apply_chat_template(chats, tokenize=True, return_dict=True,
                                                 return_assistant_tokens_mask=True)
        return [(len(ids), int(sum(mask)), None) for ids, mask in zip(out["input_ids"], out["assistant_masks"])]

    def _n(self, chat: list[dict[str, Any]], generation_prompt: bool = False) -> int:
        if not chat:
            return 0
        text = self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=generation_prompt)
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _prefix_diff(self, chat: list[dict[str, Any]]) -> tuple[int, int, None]:
        trainable = 0
        for i, m in enumerate(chat):
            if m["role"] == "assistant":
                trainable += max(0, self._n(chat[: i + 1]) - self._n(chat[:i], generation_prompt=True))
        return self._n(chat), trainable, None


# -- worker-process side -------------------------------------------------------------
_WORKER: Counter | None = None


def init_worker(spec: TokenizerSpec) -> None:
    global _WORKER
    import os

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # the pool is the parallelism
    _WORKER = Counter(spec)


def count_in_worker(ids: list[str], conversations: list[list[dict[str, Any]]]) -> tuple[list[str], list]:
    assert _WORKER is not None, "init_worker was not called"
    return ids, _WORKER.count(conversations)
