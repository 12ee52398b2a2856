"""Word shingles and their 32-bit hashes, built from cached word hashes.

A shingle's hash is *not* xxh32 of its text. Each distinct word is hashed once (xxh32 of
its UTF-8 bytes, kept in a bounded cache), and the n word hashes of a shingle are
combined by a multiply-xorshift chain (``combine``), vectorised in numpy over every
shingle of a chunk of texts. This avoids building and hashing one Python string per
shingle, which dominated the cost. ``shingle_hash`` computes the same value from a
shingle's text (split into words, hash, combine), so datasketch fed the same shingles
with ``hashfunc=shingle_hash`` gives the same signatures.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import xxhash

from imitkit.curation.text import WORD

_MULT = 0x9E3779B1  # odd: multiplication is a bijection mod 2^32
_MASK = 0xFFFFFFFF
# ASCII bytes -> lowercase word bytes, everything else -> space: for ASCII text this gives
# exactly the words of ``WORD.findall(text.lower())`` (\w on ASCII is [A-Za-z0-9_]).
_ASCII_WORDS = bytes((ord(chr(c).lower()) if chr(c).isalnum() or c == 0x5F else 0x20) if c < 128 else 0x20
                     for c in range(256))
WORD_CACHE_MAX = 500_000  # distinct words kept (~60 MB); the cache is emptied past this
_word_cache: dict[str | bytes, int] = {}


def tokens(text: str) -> list[str] | list[bytes]:
    """The lowercased words of ``text`` (as ``WORD.findall(text.lower())``; bytes for ASCII text, faster)."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_WORDS).split()
    return WORD.findall(text.lower())


def word_hashes(words: list[str] | list[bytes]) -> np.ndarray:
    """xxh32 of each word's UTF-8 bytes, from the cache where seen before."""
    cache = _word_cache
    try:
        return np.fromiter(map(cache.__getitem__, words), np.uint32, len(words))
    except KeyError:
        if len(cache) > WORD_CACHE_MAX:
            cache.clear()
        h = xxhash.xxh32_intdigest
        for w in words:
            if w not in cache:
                cache[w] = h(w if isinstance(w, bytes) else w.encode())
        return np.fromiter(map(cache.__getitem__, words), np.uint32, len(words))


def combine(hashes: Iterable[int]) -> int:
    """One shingle's hash from its word hashes, in order (the scalar form of ``_windows``)."""
    hashes = list(hashes)
    h = len(hashes)
    for w in hashes:
        h = ((h ^ w) * _MULT) & _MASK
        h ^= h >> 16
    return h


def _windows(w: np.ndarray, n: int) -> np.ndarray:
    """``combine`` of every window of ``n`` consecutive word hashes (uint32 wraps like the mask)."""
    size = w.size - n + 1
    h = np.full(size, n, dtype=np.uint32)
    for j in range(n):
        h ^= w[j:j + size]
        h *= np.uint32(_MULT)
        h ^= h >> np.uint32(16)
    return h


def shingle_hash(shingle: str | bytes) -> int:
    """The 32-bit hash of one shingle (its words joined by spaces): pass as ``hashfunc`` to datasketch."""
    text = shingle.decode() if isinstance(shingle, bytes) else shingle
    return combine(xxhash.xxh32_intdigest(w.encode()) for w in text.split())


def shingles(text: str, n: int = 5) -> list[str]:
    """Word n-grams of lowercased text; a text shorter than n words is one shingle."""
    w = WORD.findall(text.lower())
    if len(w) < n:
        return [" ".join(w)] if w else []
    return [" ".join(t) for t in zip(*(w[i:] for i in range(n)))]


def shingle_hashes(text: str, n: int = 5) -> np.ndarray:
    """``shingle_hash`` of each of ``shingles(text, n)``, in order, as uint32."""
    for _, hashes, _ in hashed_chunks([text], n):
        return hashes
    return np.empty(0, dtype=np.uint32)


def shingle_sets(texts: list[str], n: int = 5) -> list[np.ndarray]:
    """The distinct shingle hashes of each text, sorted (hashed in chunks, for verifying candidates)."""
    out = [np.empty(0, dtype=np.uint32)] * len(texts)
    for rows, hashes, counts in hashed_chunks(texts, n):
        for row, part in zip(rows.tolist(), np.split(hashes, np.cumsum(counts)[:-1])):
            out[row] = np.unique(part)
    return out


def hashed_chunks(texts: Iterable[str], n: int = 5, chunk: int = 8192
                  ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Shingle hashes of texts, a chunk of about ``chunk`` words at a time.

    Yields ``(rows, hashes, counts)``: the indices of the texts that have words, their
    shingle hashes concatenated in order, and how many belong to each.
    """
    rows: list[int] = []
    lengths: list[int] = []
    words: list = []
    for i, text in enumerate(texts):
        t = tokens(text)
        if not t:
            continue
        rows.append(i)
        lengths.append(len(t))
        words += t
        if len(words) >= chunk:
            yield _hash_chunk(rows, lengths, words, n)
            rows, lengths, words = [], [], []
    if rows:
        yield _hash_chunk(rows, lengths, words, n)


def _hash_chunk(rows: list[int], lengths: list[int], words: list, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w = word_hashes(words)
    length = np.array(lengths, dtype=np.int64)
    end = np.cumsum(length)
    full = length >= n
    counts = np.where(full, length - n + 1, 1)
    size = w.size - n + 1
    if size > 0:
        # Every window of the concatenation, minus those that cross into the next text.
        valid = np.ones(size, dtype=bool)
        for k in range(1, n):
            idx = end - k
            valid[idx[(idx >= 0) & (idx < size)]] = False
        hashes = _windows(w, n)[valid]
    else:
        hashes = np.empty(0, dtype=np.uint32)
    short = np.flatnonzero(~full)
    if short.size:  # a text of fewer than n words is one shingle of all its words
        before = np.cumsum(np.where(full, counts, 0)) - np.where(full, counts, 0)
        values = [combine(w[e - m:e].tolist()) for e, m in zip(end[short].tolist(), length[short].tolist())]
        hashes = np.insert(hashes, before[short], np.array(values, dtype=np.uint32))
    return np.array(rows, dtype=np.int64), hashes, counts
