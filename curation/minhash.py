"""Vectorised MinHash and numpy LSH banding, compatible with datasketch.

Signatures use datasketch's default ``affine32`` scheme with the same permutation
parameters for the same seed, over 32-bit shingle hashes combined from cached xxh32 word
hashes (see ``shingling``), so
``datasketch.LeanMinHash(seed=seed, hashvalues=sig, scheme="affine32")`` reads them and
``MinHash(num_perm, seed, hashfunc=shingle_hash)`` fed the same shingles gives the same
values. Instead of one ``update()`` per shingle, a chunk of documents is one
``(num_perm x shingles)`` product reduced with ``np.minimum.reduceat``.

Banding sorts each band's hashes and pairs equal neighbours; clusters come from a
numpy union-find. Band below the target threshold, then verify candidates.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable, Iterator

import numpy as np

from imitkit.curation.shingling import hashed_chunks, shingle_hash, shingle_hashes, shingles  # noqa: F401 (re-exported)

MAX_HASH = np.uint32(0xFFFFFFFF)


@lru_cache(maxsize=8)
def permutations(num_perm: int = 128, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The ``a, b`` of datasketch's ``MinHash(num_perm, seed)`` (scheme affine32)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's finaliser, which datasketch applies to every input hash."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def signatures(texts: list[str], n: int = 5, num_perm: int = 128, seed: int = 1,
               chunk: int = 8192) -> np.ndarray:
    """MinHash signatures ``(len(texts), num_perm)`` uint32; a text without words gets the empty signature.

    ``chunk`` is about how many words are hashed and reduced at once: the ``(num_perm x chunk)``
    products (4 MB by default) stay in cache and their buffer is reused.
    """
    a, b = permutations(num_perm, seed)
    a, b = a[:, None], b[:, None]
    out = np.full((len(texts), num_perm), MAX_HASH, dtype=np.uint32)
    buffer = np.empty((num_perm, 0), dtype=np.uint32)
    for rows, hashes, counts in hashed_chunks(texts, n, chunk):
        if hashes.size > buffer.shape[1]:
            buffer = np.empty((num_perm, max(hashes.size, chunk)), dtype=np.uint32)
        products = buffer[:, :hashes.size]
        np.multiply(a, fmix32(hashes)[None, :], out=products)  # uint32 arithmetic wraps: exactly a*h+b mod 2^32
        products += b
        starts = np.cumsum(counts) - counts
        out[rows] = np.minimum.reduceat(products, starts, axis=1).T
    return out


def _signatures_job(args: tuple) -> np.ndarray:
    return signatures(*args)


def parallel_signatures(batches: Iterable[list[str]], workers: int, n: int = 5, num_perm: int = 128,
                        seed: int = 1) -> Iterator[np.ndarray]:
    """Signatures of each batch, in order, computed on ``workers`` processes."""
    if workers <= 1:
        for texts in batches:
            yield signatures(texts, n, num_perm, seed)
        return
    from imitkit.curation.step import process_pool

    with process_pool(workers) as pool:
        pending = []
        for texts in batches:
            pending.append(pool.submit(_signatures_job, (texts, n, num_perm, seed)))
            if len(pending) > 2 * workers:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


@lru_cache(maxsize=32)
def optimal_params(threshold: float, num_perm: int = 128, weights: tuple[float, float] = (0.5, 0.5)) -> tuple[int, int]:
    """Bands and rows minimising weighted false positive + negative area (as datasketch's MinHashLSH)."""
    best, best_error = (1, num_perm), float("inf")
    lo = np.linspace(0.0, threshold, 2001)
    hi = np.linspace(threshold, 1.0, 2001)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = np.trapezoid(1 - (1 - lo ** r) ** b, lo)
            fn = np.trapezoid(1 - (1 - (1 - hi ** r) ** b), hi)
            error = fp * weights[0] + fn * weights[1]
            if error < best_error:
                best, best_error = (b, r), error
    return best


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per (document, band); equal band values give equal keys."""
    keys = np.empty((sigs.shape[0], bands), dtype=np.uint64)
    mult = np.uint64(0x9E3779B97F4A7C15)
    for band in range(bands):
        h = np.full(sigs.shape[0], np.uint64(0xCBF29CE484222325))
        for col in range(band * rows, (band + 1) * rows):
            h = (h ^ sigs[:, col].astype(np.uint64)) * mult
            h ^= h >> np.uint64(29)
        keys[:, band] = h
    return keys


def candidate_pairs(keys: np.ndarray, max_bucket: int = 64) -> np.ndarray:
    """Unique pairs ``(i, j)``, i < j, sharing a key in any band.

    Buckets up to ``max_bucket`` give every pair; larger ones (thousands of copies of one
    template) give a star and a chain, enough to connect them without quadratic work.
    """
    found = []
    for band in range(keys.shape[1]):
        order = np.argsort(keys[:, band], kind="stable")
        ordered = keys[order, band]
        if ordered.size < 2:
            continue
        new_run = np.concatenate(([True], ordered[1:] != ordered[:-1]))
        run_start = np.maximum.accumulate(np.where(new_run, np.arange(ordered.size), 0))
        run_len = np.bincount(np.cumsum(new_run) - 1)[np.cumsum(new_run) - 1]
        pos = np.flatnonzero(run_len > 1)
        if pos.size == 0:
            continue
        start, length = run_start[pos], run_len[pos]
        end = start + length
        small = length <= max_bucket
        for d in range(1, int(length[small].max(initial=1))):
            m = small & (pos + d < end)
            if not m.any():
                break
            found.append(np.stack([order[pos[m]], order[pos[m] + d]], axis=1))
        big = ~small
        if big.any():
            chain = big & (pos + 1 < end)
            star = big & (pos > start + 1)
            found.append(np.stack([order[pos[chain]], order[pos[chain] + 1]], axis=1))
            found.append(np.stack([order[start[star]], order[pos[star]]], axis=1))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.sort(np.concatenate(found).astype(np.int64), axis=1)
    n = np.int64(keys.shape[0])
    codes = np.unique(pairs[:, 0] * n + pairs[:, 1])
    return np.stack([codes // n, codes % n], axis=1)


def signature_jaccard(sigs: np.ndarray, pairs: np.ndarray, chunk: int = 100_000) -> np.ndarray:
    out = np.empty(len(pairs), dtype=np.float64)
    for s in range(0, len(pairs), chunk):
        p = pairs[s:s + chunk]
        out[s:s + chunk] = (sigs[p[:, 0]] == sigs[p[:, 1]]).mean(axis=1)
    return out


def union_find(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected components: each element's label is the smallest index in its component."""
    parent = np.arange(n, dtype=np.int64)
    if len(pairs) == 0:
        return parent
    u, v = pairs[:, 0], pairs[:, 1]
    while True:
        ru, rv = parent[u], parent[v]
        if np.array_equal(ru, rv):
            return parent
        low = np.minimum(ru, rv)
        np.minimum.at(parent, ru, low)  # hook each root under the smaller root
        np.minimum.at(parent, rv, low)
        while True:  # pointer jumping: every element points at its root
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
