"""``decontaminate``: drop conversations whose user turns contain a registered eval item.

Two tests on normalised words (NFKC, lowercase, punctuation dropped): a whole eval item
inside a user turn (exact), and word n-gram overlap: 13-grams for long items (MMLU,
HumanEval), 8-grams for short ones (NQ questions). n-grams are hashed and looked up
with numpy over a whole batch of turns. The verdict names the eval set and item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xxhash

from imitkit.curation.config import opt
from imitkit.curation.step import Step, Verdict
from imitkit.curation.text import match_form

_MULT = np.uint64(0x100000001B3)


def word_hashes(words: list[str]) -> np.ndarray:
    h = xxhash.xxh3_64_intdigest
    return np.fromiter((h(w.encode()) for w in words), dtype=np.uint64, count=len(words))


def ngram_hashes(w: np.ndarray, n: int) -> np.ndarray:
    """Order-sensitive hash of every run of n consecutive word hashes."""
    m = w.size - n + 1
    if m <= 0:
        return np.empty(0, dtype=np.uint64)
    h = np.zeros(m, dtype=np.uint64)
    for j in range(n):
        h = h * _MULT + w[j:j + m]
    return h


class EvalIndex:
    """Eval items as sorted n-gram hash tables: one per n-gram size and per exact item length."""

    def __init__(self, items: list[tuple[str, str, str]], long_n: int, short_n: int, short_words: int, min_words: int):
        self.items = []   # (evalset, item_id, normalised text)
        grams: dict[tuple[str, int], list[tuple[np.ndarray, int]]] = {}
        self.skipped = 0
        for evalset, item_id, text in items:
            words = match_form(text).split()
            if len(words) < min_words:
                self.skipped += 1
                continue
            index = len(self.items)
            self.items.append((evalset, item_id, " ".join(words)))
            w = word_hashes(words)
            grams.setdefault(("exact", len(words)), []).append((ngram_hashes(w, len(words)), index))
            n = short_n if len(words) < short_words else long_n
            if len(words) > n:
                grams.setdefault(("ngram", n), []).append((ngram_hashes(w, n), index))
        self.tables: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
        for key, entries in grams.items():
            hashes = np.concatenate([h for h, _ in entries])
            owners = np.concatenate([np.full(h.size, i, dtype=np.int64) for h, i in entries])
            order = np.argsort(hashes, kind="stable")
            self.tables[key] = (hashes[order], owners[order])

    def find(self, turns: list[str]) -> list[tuple[int, str, int, str] | None]:
        """For each turn: (item index, 'exact'|'ngram', n, matched words), or None."""
        words = [t.split() for t in turns]
        flat = word_hashes([w for ws in words for w in ws])
        owner = np.repeat(np.arange(len(turns)), [len(ws) for ws in words])
        starts = np.concatenate(([0], np.cumsum([len(ws) for ws in words])))
        found: list[Any] = [None] * len(turns)
        # Exact matches first (more specific), then the longest n-grams.
        for kind, n in sorted(self.tables, key=lambda k: (k[0] != "exact", -k[1])):
            hashes, owners = self.tables[(kind, n)]
            h = ngram_hashes(flat, n)
            if h.size == 0:
                continue
            valid = owner[: h.size] == owner[n - 1:]
            pos = np.searchsorted(hashes, h)
            hit = valid & (pos < hashes.size) & (hashes[np.minimum(pos, hashes.size - 1)] == h)
            for p in np.flatnonzero(hit).tolist():
                t = int(owner[p])
                if found[t] is None:
                    item = int(owners[pos[p]])
                    matched = " ".join(words[t][p - starts[t]: p - starts[t] + n])
                    exact = kind == "exact" or f" {self.items[item][2]} " in f" {turns[t]} "
                    found[t] = (item, "exact" if exact else "ngram", n, matched)
        return found


class Decontaminate(Step):
    name = "decontaminate"

    @dataclass
    class Config:
        evalsets: list = opt([], "Eval sets to check against (names from `imitkit evalset list`); empty: all registered.")
        ngram_long: int = opt(13, "Word n-gram size for long items (GPT-3 / open-instruct style).")
        ngram_short: int = opt(8, "Word n-gram size for short items such as NQ questions.")
        short_item_words: int = opt(20, "Items with fewer words than this use ngram_short.")
        min_item_words: int = opt(4, "Items with fewer words are ignored (too generic to match).")
        roles: list = opt(["user"], "Roles whose turns are checked.")

    def setup(self) -> None:
        self._index: EvalIndex | None = None

    def chosen_sets(self) -> list[str]:
        from imitkit.registry.evalsets import names

        registered = names(self.registry)
        if not self.config.evalsets:
            return registered
        missing = [n for n in self.config.evalsets if n not in registered]
        if missing:
            from imitkit.curation.errors import ConfigError

            raise ConfigError(f"decontaminate.evalsets names unregistered set(s) {', '.join(missing)}; "
                              f"registered: {', '.join(registered) or 'none'}")
        return list(self.config.evalsets)

    def skip_reason(self) -> str | None:
        return None if self.chosen_sets() else "no eval set registered (see `imitkit evalset add`)"

    def extra_fingerprint(self) -> Any:
        sets = self.chosen_sets()
        if not sets:
            return []
        return self.registry.con.execute(
            f"SELECT name, fingerprint FROM t_evalset WHERE name IN ({', '.join('?' * len(sets))}) ORDER BY name",
            sets).fetchall()

    @property
    def index(self) -> EvalIndex:
        if self._index is None:
            from imitkit.registry.evalsets import load_items

            c = self.config
            items = [(name, item.item_id, item.text) for name in self.chosen_sets() for item in load_items(self.registry, name)]
            self._index = EvalIndex(items, c.ngram_long, c.ngram_short, c.short_item_words, c.min_item_words)
        return self._index

    def judge(self, rows: list[dict]) -> list[Verdict]:
        turns, owner = [], []
        for i, row in enumerate(rows):
            for m in row["messages"]:
                if m["role"] in self.config.roles and m["content"]:
                    turns.append(match_form(m["content"]))
                    owner.append(i)
        hits: dict[int, tuple] = {}
        for t, found in zip(owner, self.index.find(turns)):
            if found is not None and (t not in hits or (found[1] == "exact" and hits[t][1] != "exact")):
                hits[t] = found
        out = []
        for i, row in enumerate(rows):
            if i not in hits:
                out.append(Verdict(row["id"], True))
                continue
            item, kind, n, matched = hits[i]
            evalset, item_id, _ = self.index.items[item]
            out.append(Verdict(row["id"], False, f"contaminated: {evalset}",
                               {"evalset": evalset, "item_id": item_id, "match": kind, "n": n, "matched": matched}))
        return out
