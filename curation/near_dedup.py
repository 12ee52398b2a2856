"""``near_dedup``: MinHash near-duplicates at scale, with the cluster and kept member stored.

Signatures are computed vectorised over both cores; LSH is banded for ``band_threshold``
(below the target, because banding for 0.8 itself finds only ~81% of the pairs whose
Jaccard is >= 0.8) and every candidate pair is verified against ``threshold`` by exact
shingle Jaccard (or the signature estimate). Clusters are connected components; a
member kept by an earlier run stays the kept one, so new conversations are deduplicated
against everything already kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pyarrow as pa

from imitkit.curation import minhash, store
from imitkit.curation.config import opt
from imitkit.curation.shingling import shingle_sets
from imitkit.curation.step import Step
from imitkit.curation.text import KEY_SQL, KEYS

# Candidates whose signature estimate is this far below the threshold are not worth an exact check.
_PREFILTER_MARGIN = 0.2


class NearDedup(Step):
    name = "near_dedup"

    @dataclass
    class Config:
        key: str = opt("conversation", "What is compared: the whole conversation, the first user turn, or the assistant turns.", KEYS)
        threshold: float = opt(0.8, "Jaccard similarity at or above which two conversations are near duplicates.")
        band_threshold: float = opt(0.7, "LSH bands are tuned for this (lower) similarity, then candidates are verified.")
        num_perm: int = opt(128, "MinHash permutations.")
        ngram: int = opt(5, "Words per shingle.")
        seed: int = opt(1, "MinHash seed (datasketch-compatible permutations).")
        verify: str = opt("shingles", "Verify candidates by exact shingle Jaccard or by the signature estimate.",
                          ("shingles", "signature"))
        keep: str = opt("first", "Which member of a cluster survives: first seen, or the longest.", ("first", "longest"))
        max_bucket: int = opt(64, "Band buckets larger than this are linked as a star and chain instead of all pairs.")

    def pool_sql(self, where: str) -> str:
        return (f"SELECT id, seq, current, input_hash, {KEY_SQL[self.config.key]} AS text "
                f"FROM ({self.judged_sql()}) WHERE {where}")

    def verdict_batches(self) -> Iterator[tuple[pa.Table, None]]:
        c = self.config
        where = "NOT current OR was_kept"
        total = self.registry.scalar(f"SELECT count(*) FROM ({self.judged_sql()}) WHERE {where}")
        ids: list[str] = []
        cols: dict[str, list[np.ndarray]] = {"seq": [], "current": [], "input_hash": [], "length": []}

        def texts() -> Iterator[list[str]]:
            cursor = self.registry.con.cursor()
            try:
                reader = cursor.sql(self.pool_sql(where)).to_arrow_reader(self.ctx.config.pipeline.batch_size)
                for batch in reader:
                    ids.extend(batch["id"].to_pylist())
                    text = batch["text"].to_pylist()
                    for name in ("seq", "current", "input_hash"):
                        cols[name].append(batch[name].to_numpy(zero_copy_only=False))
                    cols["length"].append(np.fromiter(map(len, text), np.int64, len(text)))
                    yield text
            finally:
                cursor.close()

        pipeline = self.ctx.config.pipeline
        workers = pipeline.workers if total >= pipeline.parallel_min else 1
        sigs = np.empty((total, c.num_perm), dtype=np.uint32)  # filled in place: no second copy at 1M rows
        filled = 0
        for part in minhash.parallel_signatures(texts(), workers, c.ngram, c.num_perm, c.seed):
            if filled + len(part) > len(sigs):
                sigs = np.concatenate([sigs[:filled], np.empty((len(part), c.num_perm), dtype=np.uint32)])
            sigs[filled:filled + len(part)] = part
            filled += len(part)
        if not ids:
            return
        sigs = sigs[:filled]
        seq, is_ref, input_hash, length = (np.concatenate(cols[k]) for k in ("seq", "current", "input_hash", "length"))
        is_ref = is_ref.astype(bool)  # kept by an earlier run, judged on the same text
        empty = (sigs == minhash.MAX_HASH).all(axis=1)

        pairs, jaccard = self.verified_pairs(sigs, ids, is_ref, empty)
        labels = minhash.union_find(len(ids), pairs)
        keeper = self.keepers(labels, is_ref, seq, length)
        # Name each cluster by its first-seen member, whatever order the rows were read in.
        first_seen = self.first_of(labels, [seq])
        yield from self.tables(ids, is_ref, input_hash, first_seen, keeper, pairs, jaccard)

    def verified_pairs(self, sigs: np.ndarray, ids: list[str], is_ref: np.ndarray,
                       empty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = self.config
        bands, rows = minhash.optimal_params(c.band_threshold, c.num_perm)
        pairs = minhash.candidate_pairs(minhash.band_keys(sigs, bands, rows), c.max_bucket)
        pairs = pairs[~(is_ref[pairs[:, 0]] & is_ref[pairs[:, 1]]) & ~empty[pairs[:, 0]] & ~empty[pairs[:, 1]]]
        estimate = minhash.signature_jaccard(sigs, pairs)
        if c.verify == "signature":
            ok = estimate >= c.threshold
            return pairs[ok], estimate[ok]
        pairs = pairs[estimate >= c.threshold - _PREFILTER_MARGIN]
        jaccard = self.exact_jaccard(pairs, ids)
        ok = jaccard >= c.threshold
        return pairs[ok], jaccard[ok]

    def exact_jaccard(self, pairs: np.ndarray, ids: list[str]) -> np.ndarray:
        """Exact Jaccard of shingle-hash sets, re-reading only the candidates' text."""
        docs = np.unique(pairs)
        if docs.size == 0:
            return np.empty(0)
        cursor = self.registry.con.cursor()
        try:
            cursor.register("_nd_ids", pa.table({"id": [ids[i] for i in docs]}))
            rows = cursor.sql(self.pool_sql("id IN (SELECT id FROM _nd_ids)")).to_arrow_table()
        finally:
            cursor.close()
        text = dict(zip(rows["id"].to_pylist(), rows["text"].to_pylist()))
        sets = dict(zip(docs.tolist(), shingle_sets([text[ids[i]] for i in docs.tolist()], self.config.ngram)))
        out = np.empty(len(pairs))
        for k, (i, j) in enumerate(pairs.tolist()):
            a, b = sets[i], sets[j]
            inter = np.intersect1d(a, b, assume_unique=True).size
            out[k] = inter / (a.size + b.size - inter) if a.size + b.size else 0.0
        return out

    def keepers(self, labels: np.ndarray, is_ref: np.ndarray, seq: np.ndarray, length: np.ndarray) -> np.ndarray:
        """For each element, the index of its cluster's survivor."""
        primary = -length if self.config.keep == "longest" else np.zeros_like(seq)
        return self.first_of(labels, [seq, primary, ~is_ref])  # earlier kept members first

    @staticmethod
    def first_of(labels: np.ndarray, keys: list[np.ndarray]) -> np.ndarray:
        """For each element, the index of the first member of its cluster when sorted by ``keys`` (last = primary)."""
        order = np.lexsort((*keys, labels))
        first = np.concatenate(([True], labels[order][1:] != labels[order][:-1]))
        best = np.empty_like(labels)
        best[labels[order][first]] = order[first]
        return best[labels]

    def tables(self, ids, is_ref, input_hash, cluster, keeper, pairs, jaccard) -> Iterator[tuple[pa.Table, None]]:
        size = np.bincount(cluster, minlength=len(ids))[cluster]
        # The strongest verified link of each member, as evidence for its drop.
        best_j = np.full(len(ids), -1.0)
        best_n = np.full(len(ids), -1, dtype=np.int64)
        for col, other in ((0, 1), (1, 0)):
            order = np.argsort(jaccard, kind="stable")
            best_j[pairs[order, col]] = jaccard[order]
            best_n[pairs[order, col]] = pairs[order, other]
        todo = np.flatnonzero(~is_ref)
        batch = self.ctx.config.pipeline.batch_size * 4
        for s in range(0, todo.size, batch):
            idx = todo[s:s + batch]
            keep, reason, details = [], [], []
            for i in idx.tolist():
                kept = int(keeper[i]) == i
                keep.append(kept)
                reason.append(None if kept else "near duplicate")
                if size[i] < 2:
                    details.append(None)
                    continue
                d = {"cluster": ids[int(cluster[i])], "kept": ids[int(keeper[i])], "size": int(size[i])}
                if best_n[i] >= 0:
                    d.update(matched=ids[int(best_n[i])], jaccard=round(float(best_j[i]), 4))
                details.append(json.dumps(d))
            yield pa.table({
                "id": pa.array([ids[i] for i in idx.tolist()], pa.string()), "keep": pa.array(keep, pa.bool_()),
                "reason": pa.array(reason, pa.string()), "details": pa.array(details, pa.string()),
                "input_hash": pa.array(input_hash[idx].astype(np.uint64), pa.uint64()),
                "messages": pa.nulls(len(idx), store.VERDICT_SCHEMA.field("messages").type),
            }, schema=store.VERDICT_SCHEMA), None
