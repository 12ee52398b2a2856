"""Synthetic ShareGPT-style dumps for benchmarks and crash tests.

Conversations have 2–8 turns with lengths drawn to resemble ShareGPT (short prompts,
answers of a few hundred to a few thousand characters); a share are exact duplicates
of earlier ones. Generation is seeded and streams to disk, so a 4 GB file never sits
in memory.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = ("the model data train token answer question language teacher student imitation style "
         "fact benchmark budget mixture snapshot registry python function return value list "
         "because however therefore example result method paper study").split()


def _text(rng: random.Random, n_words: int) -> str:
    words = rng.choices(WORDS, k=n_words)
    words.append(str(rng.randrange(10**9)))  # keeps texts distinct
    return " ".join(words)


def conversation(rng: random.Random, index: int) -> dict:
    turns = []
    for t in range(rng.choice((2, 2, 4, 4, 6, 8))):
        human = t % 2 == 0
        n = int(rng.lognormvariate(3.0, 0.8)) + 3 if human else int(rng.lognormvariate(5.3, 0.6)) + 10
        turns.append({"from": "human" if human else "gpt", "value": _text(rng, n)})
    return {"id": f"syn{index:08d}", "conversations": turns}


def write_sharegpt_jsonl(path: Path, n: int, seed: int = 0, duplicate_rate: float = 0.05) -> int:
    """Write ``n`` records (JSON Lines) to ``path``; return the number of bytes."""
    rng = random.Random(seed)
    recent: list[dict] = []
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            if recent and rng.random() < duplicate_rate:
                record = {**rng.choice(recent), "id": f"dup{i:08d}"}
            else:
                record = conversation(rng, i)
                if len(recent) < 1000:
                    recent.append(record)
                else:
                    recent[rng.randrange(1000)] = record
            f.write(json.dumps(record, ensure_ascii=False))
            f.write("\n")
    return path.stat().st_size
