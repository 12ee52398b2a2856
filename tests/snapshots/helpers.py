"""Registries with known conversations, and a tokenizer trained in the test (no downloads)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

WORDS = ("the quick brown fox jumps over a lazy dog while imitation data copies style more than knowledge "
         "models learn to sound like their teacher tokens budget mixture snapshot registry").split()
CHINESE = "模仿数据复制风格多于知识模型学会听起来像老师"

# ChatML with generation markers: trainable tokens come from return_assistant_tokens_mask.
# (transformers renders with trim_blocks: a newline right after a block tag is dropped.)
CHATML_GENERATION = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] }}<|im_end|>{% endgeneration %}{{ '\\n' }}"
    "{% else %}{{ m['content'] }}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
# The same format without markers: trainable tokens by prefix differences.
CHATML_PLAIN = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def text(rng: random.Random, n_words: int, chinese: bool = False) -> str:
    if chinese:
        return "".join(rng.choice(CHINESE) for _ in range(n_words * 2))
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


def conversation(rng: random.Random, i: int, chinese: bool = False, turns: int | None = None) -> list[dict[str, Any]]:
    from imitkit.registry.records import message

    messages = []
    for t in range(turns or rng.randint(1, 3)):
        messages.append(message("user", f"q{i}.{t} " + text(rng, rng.randint(3, 20), chinese)))
        messages.append(message("assistant", f"a{i}.{t} " + text(rng, rng.randint(10, 80), chinese)))
    return messages


def populate(registry: Any, sources: dict[str, int], *, seed: int = 0, chinese: tuple[str, ...] = (),
             parts: int = 1, start: int = 0, license: str = "apache-2.0", teacher: str = "gpt-3.5-turbo") -> list[str]:
    """Import ``n`` synthetic conversations per source (``parts`` conversations per record); return their ids."""
    from imitkit.registry.catalog import upsert_source
    from imitkit.registry.records import Conversation
    from imitkit.registry.runs import recorded_run
    from imitkit.registry.writer import ConversationWriter

    rng = random.Random(seed)
    ids = []
    with recorded_run(registry, "test import", {}) as run:
        for s_index, (source, n) in enumerate(sources.items()):
            upsert_source(registry, source, format="test", license=license, origin="teacher", teacher_model=teacher)
            writer = ConversationWriter(registry, run, source)
            for i in range(start, start + n):
                uid = s_index * 1_000_000 + i
                conv = Conversation(conversation(rng, uid, chinese=source in chinese), teacher_model=teacher,
                                    part=i % parts)
                ids.append(writer.add(conv, f"{source}.jsonl", i // parts))
            writer.flush()
    return ids


def train_tokenizer(folder: Path, template: str | None = CHATML_GENERATION) -> Path:
    """A byte-level BPE trained on a few hundred strings, saved as a transformers tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    rng = random.Random(1)
    corpus = [text(rng, 30) for _ in range(300)] + [text(rng, 20, chinese=True) for _ in range(100)]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<unk>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<|im_end|>")
    if template:
        fast.chat_template = template
    fast.save_pretrained(str(folder))
    return folder
