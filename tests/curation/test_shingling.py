"""Shingle hashes from cached word hashes: the same values one at a time, in chunks, and in datasketch."""

from __future__ import annotations

import numpy as np
import xxhash
from datasketch import MinHash

from imitkit.curation import minhash, shingling
from imitkit.curation.text import WORD

TEXTS = [
    "", "   ...   ", "one", "Two words", "exactly five words here now", "six words: here, now, then, gone!",
    "The quick brown fox jumps over the lazy dog; snake_case and CamelCase, 3.14 and 42.",
    "Ünïcode wörds, naïve café — Straße ÉCOLE", "Привет, как дела? Всё хорошо, спасибо большое.",
    "中文 文本 没有 空格 的 句子", "mixed ascii and ΑΘΗΝΑ text with digits 123 and_under_score",
    "नमस्ते दुनिया यह एक परीक्षण है",  # combining marks split words under Python's \w
]


def test_tokens_are_the_lowercased_regex_words():
    for text in TEXTS + [t.upper() for t in TEXTS]:
        got = [w.decode() if isinstance(w, bytes) else w for w in shingling.tokens(text)]
        assert got == WORD.findall(text.lower()), text


def test_shingle_hash_combines_word_hashes_in_order():
    words = [xxhash.xxh32_intdigest(w) for w in (b"a", b"b")]
    assert minhash.shingle_hash("a b") == shingling.combine(words) == minhash.shingle_hash(b"a b")
    assert minhash.shingle_hash("a b") != minhash.shingle_hash("b a")
    assert minhash.shingle_hash("a b") != xxhash.xxh32_intdigest(b"a b")  # not a hash of the shingle's text
    assert 0 <= minhash.shingle_hash("the quick brown fox jumps") < 2**32


def test_vectorised_hashes_equal_shingle_hash_of_each_shingle():
    for n in (1, 3, 5):
        for text in TEXTS:
            want = [minhash.shingle_hash(s) for s in minhash.shingles(text, n)]
            assert minhash.shingle_hashes(text, n).tolist() == want, (n, text)


def test_chunks_cross_text_boundaries_correctly():
    texts = TEXTS * 3
    for chunk in (1, 3, 17, 10_000):
        got = {}
        for rows, hashes, counts in shingling.hashed_chunks(texts, 5, chunk):
            assert counts.sum() == hashes.size and (counts >= 1).all()
            for row, part in zip(rows.tolist(), np.split(hashes, np.cumsum(counts)[:-1])):
                got[row] = part.tolist()
        want = {i: minhash.shingle_hashes(t).tolist() for i, t in enumerate(texts) if WORD.search(t)}
        assert got == want
    sets = shingling.shingle_sets(texts)
    assert [s.tolist() for s in sets] == [sorted(set(minhash.shingle_hashes(t).tolist())) for t in texts]


def test_signatures_equal_datasketch_on_unicode_and_short_texts():
    sigs = minhash.signatures(TEXTS, n=5, num_perm=64, seed=3, chunk=5)
    for text, sig in zip(TEXTS, sigs):
        m = MinHash(num_perm=64, seed=3, hashfunc=minhash.shingle_hash)
        m.update_batch([s.encode() for s in minhash.shingles(text, 5)])  # bytes shingles, as datasketch users pass
        np.testing.assert_array_equal(sig, m.hashvalues)


def test_word_cache_stays_bounded(monkeypatch):
    monkeypatch.setattr(shingling, "WORD_CACHE_MAX", 50)
    monkeypatch.setattr(shingling, "_word_cache", {})
    for batch in range(10):
        words = [f"w{batch}_{i}".encode() for i in range(40)]
        got = shingling.word_hashes(words)
        assert got.tolist() == [xxhash.xxh32_intdigest(w) for w in words]
        assert len(shingling._word_cache) <= 50 + 40
