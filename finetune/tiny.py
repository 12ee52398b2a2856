"""A tiny, randomly initialised Llama with a BPE tokenizer trained on given texts.

Nothing is downloaded, so demos, tests and CPU benchmarks can run the whole
import → mix → finetune → eval loop offline. The model learns nothing useful, which
is the point: it is a stand-in base model whose runs take seconds.

    python -m imitkit.finetune.tiny OUT_DIR [--registry DIR] [--hidden 64] [--layers 2]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterable

SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]


def train_tokenizer(texts: Iterable[str], vocab_size: int = 512):
    """A byte-level BPE tokenizer (``PreTrainedTokenizerFast``) trained on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>")


def build_tiny_llama(folder: Path, texts: Iterable[str], *, vocab_size: int = 512, hidden_size: int = 64,
                     layers: int = 2, heads: int = 4, kv_heads: int | None = None,
                     intermediate_size: int | None = None, max_positions: int = 1024, seed: int = 0) -> int:
    """Save a random ``LlamaForCausalLM`` and its tokenizer to ``folder``; return its parameter count."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = train_tokenizer(texts, vocab_size)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size,
                         intermediate_size=intermediate_size or 2 * hidden_size, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=kv_heads or max(1, heads // 2),
                         max_position_embeddings=max_positions, bos_token_id=1, eos_token_id=2, pad_token_id=3)
    torch.manual_seed(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def registry_texts(registry_dir: str | None, limit: int = 5000) -> list[str]:
    """Message texts from a registry, to train the tokenizer on the data it will see."""
    from imitkit.registry.store import Registry

    with Registry.open(registry_dir, read_only=True) as reg:
        rows = reg.con.execute(
            "SELECT m.content FROM (SELECT messages FROM conversations ORDER BY id LIMIT ?), "
            "unnest(messages) AS t(m) WHERE m.content <> ''", [limit]).fetchall()
    return [r[0] for r in rows]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build a tiny random Llama + BPE tokenizer for offline demos.")
    parser.add_argument("out", type=Path, help="output directory")
    parser.add_argument("--registry", default=None, help="train the tokenizer on this registry's conversations")
    parser.add_argument("--vocab-size", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args(argv)
    texts = registry_texts(args.registry) if args.registry else ["hello world"] * 10
    if not texts:
        parser.error("the registry has no conversations to train a tokenizer on")
    build_tiny_llama(args.out, texts, vocab_size=args.vocab_size, hidden_size=args.hidden, layers=args.layers)
    print(f"tiny Llama ({args.layers} layers, hidden {args.hidden}) and tokenizer saved to {args.out}")


if __name__ == "__main__":
    main()
