"""The vectorised MinHash and numpy banding against datasketch itself."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datasketch import LeanMinHash, MinHash, MinHashLSH
from datasketch.lsh import _optimal_param

from imitkit.curation import minhash


def corpus(n_docs: int, seed: int = 0, words: int = 120) -> tuple[list[str], list[tuple[int, int]]]:
    """Random documents, plus near copies (a few words changed) whose pairs are returned."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(3000)]
    docs = [" ".join(rng.choice(vocab) for _ in range(words)) for _ in range(n_docs)]
    planted = []
    for i in range(0, n_docs, 4):
        w = docs[i].split()
        for k in rng.sample(range(len(w)), 2):
            w[k] = rng.choice(vocab)
        planted.append((i, len(docs)))
        docs.append(" ".join(w))
    return docs, planted


def test_signature_equals_datasketch_for_the_same_shingles():
    text = "The quick brown fox jumps over the lazy dog, then the quick brown fox sleeps. Ünïcode wörds count too."
    reference = MinHash(num_perm=128, seed=1, hashfunc=minhash.shingle_hash)
    for s in minhash.shingles(text, 5):
        reference.update(s)
    ours = minhash.signatures([text, "", text.upper()], n=5, num_perm=128, seed=1)
    assert ours.dtype == np.uint32
    np.testing.assert_array_equal(ours[0], reference.hashvalues)
    np.testing.assert_array_equal(ours[2], ours[0])  # shingles are lowercased
    assert (ours[1] == minhash.MAX_HASH).all()  # no words: datasketch's empty signature
    # A user's own datasketch code can read the stored signatures.
    lean = LeanMinHash(seed=1, hashvalues=ours[0], scheme="affine32")
    assert lean.jaccard(LeanMinHash(reference)) == 1.0
    a, b = minhash.permutations(128, 1)
    np.testing.assert_array_equal(a, reference.permutations[0])
    np.testing.assert_array_equal(b, reference.permutations[1])


def test_signatures_match_datasketch_in_chunks_and_across_seeds():
    docs, _ = corpus(30, seed=3)
    for seed, chunk in ((1, 50), (7, 100_000)):
        sigs = minhash.signatures(docs, n=3, num_perm=64, seed=seed, chunk=chunk)
        for i in (0, 7, len(docs) - 1):
            m = MinHash(num_perm=64, seed=seed, hashfunc=minhash.shingle_hash)
            m.update_batch(minhash.shingles(docs[i], 3))
            np.testing.assert_array_equal(sigs[i], m.hashvalues)


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.9])
def test_band_parameters_match_datasketch(threshold):
    assert minhash.optimal_params(threshold, 128) == _optimal_param(threshold, 128, 0.5, 0.5)


def test_numpy_banding_finds_the_same_candidate_pairs_as_minhashlsh():
    docs, _ = corpus(400, seed=1)
    sigs = minhash.signatures(docs)
    bands, rows = minhash.optimal_params(0.7)
    ours = {tuple(p) for p in minhash.candidate_pairs(minhash.band_keys(sigs, bands, rows), max_bucket=10_000).tolist()}
    lsh = MinHashLSH(num_perm=128, params=(bands, rows))
    lean = [LeanMinHash(seed=1, hashvalues=s, scheme="affine32") for s in sigs]
    for i, m in enumerate(lean):
        lsh.insert(i, m)
    theirs = {tuple(sorted((i, j))) for i, m in enumerate(lean) for j in lsh.query(m) if j != i}
    assert len(theirs) >= 80  # most of the 100 planted copies
    assert ours == theirs


def test_large_buckets_are_linked_without_all_pairs():
    sigs = np.tile(minhash.signatures(["one template answer repeated for everyone here"]), (500, 1))
    pairs = minhash.candidate_pairs(minhash.band_keys(sigs, 14, 9), max_bucket=64)
    assert len(pairs) < 2 * 500
    labels = minhash.union_find(500, pairs)
    assert (labels == 0).all()


def test_union_find_components():
    pairs = np.array([[0, 3], [3, 5], [1, 2], [7, 6], [6, 5]])
    labels = minhash.union_find(9, pairs)
    assert labels.tolist() == [0, 1, 1, 0, 4, 0, 0, 0, 8]
    assert minhash.union_find(3, np.empty((0, 2), dtype=np.int64)).tolist() == [0, 1, 2]


def test_banding_below_the_threshold_recovers_more_true_pairs():
    rng = random.Random(5)
    vocab = [f"v{i}" for i in range(5000)]
    base = [[rng.choice(vocab) for _ in range(200)] for _ in range(300)]
    docs, truth = [], []
    for words in base:
        copy = list(words)
        for k in rng.sample(range(200), 4):  # 4 of 200 words: Jaccard of 5-shingles about 0.82
            copy[k] = rng.choice(vocab)
        docs += [" ".join(words), " ".join(copy)]
    sigs = minhash.signatures(docs)
    exact = []
    for i in range(0, len(docs), 2):
        a, b = set(minhash.shingle_hashes(docs[i])), set(minhash.shingle_hashes(docs[i + 1]))
        exact.append(len(a & b) / len(a | b))
    truth = {(i, i + 1) for k, i in enumerate(range(0, len(docs), 2)) if exact[k] >= 0.8}
    assert len(truth) > 100

    def found(threshold: float) -> float:
        keys = minhash.band_keys(sigs, *minhash.optimal_params(threshold))
        pairs = {tuple(p) for p in minhash.candidate_pairs(keys).tolist()}
        return len(truth & pairs) / len(truth)

    # Pairs just above 0.8: banded for 0.8 (b=9, r=13) about half are candidates, for 0.7 (b=14, r=9) ~90%.
    assert found(0.8) < 0.75
    assert found(0.7) > 0.85
