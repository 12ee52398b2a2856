"""Benchmark the curation pipeline on generated data with planted duplicates and languages.

    .venv/bin/python bench/curate.py                 # 20,000 conversations (~1-2 min)
    .venv/bin/python bench/curate.py --n 1000000     # the target size

Prints per-step conversations/s and peak RSS, near-dup recall/precision on the planted
pairs, and, as the baseline measured in the same run on the same texts (the first
``--baseline-n``), the straightforward datasketch loop: ``MinHash()`` + ``update()`` per
shingle + ``MinHashLSH.insert`` + ``query``. Writes bench/results/curate.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

EN = ("the of and to in is you that it he was for on are as with his they at be this have from or one had by word "
      "but not what all were we when your can said there use an each which she do how their if will up other about "
      "out many then them these so some her would make like him into time has look two more write go see number no "
      "way could people my than first water been call who oil its now find long down day did get come made may part "
      "over new sound take only little work know place year live me back give most very after thing our just name good "
      "sentence man think say great where help through much before line right too mean old any same tell boy follow "
      "came want show also around form three small set put end does another well large must big even such because "
      "turn here why ask went men read need land different home us move try kind hand picture again change off play "
      "spell air away animal house point page letter mother answer found study still learn should america world").split()
OTHER = {
    "fr": ("le la les de des un une et est dans pour que qui sur pas plus avec tout faire son mais nous vous ils "
           "être avoir comme bien aussi leur même très sans peut autre après entre deux donc alors parce temps").split(),
    "de": ("der die das und ist nicht ein eine zu den mit von sich auf für auch es dem im sie werden nach bei "
           "aus wie noch aber nur oder wenn schon mehr durch gegen kann sein haben diese zwischen immer").split(),
    "es": ("el la los las de que y en un una es por con para como pero sus más este entre cuando muy sin "
           "sobre también hasta hay donde quien desde todo nos durante estados todos uno les ni contra").split(),
    "ru": ("и в не на я быть он с что а по это она этот к но они мы как из у который то за свой весь год от "
           "так о для ты же все тот мочь вы человек такой его сказать только или ещё бы себя один как").split(),
    "zh": list("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经"),
}
LEAKS = ["As an AI language model, I cannot do that.", "I was trained by OpenAI.", "Too many requests in 1 hour. Try again later."]


def make_text(rng: random.Random, lang: str, n: int) -> str:
    if lang == "zh":
        return "".join(rng.choices(OTHER["zh"], k=n * 2)) + "。"
    words = rng.choices(EN if lang == "en" else OTHER[lang], k=n)
    return " ".join(words).capitalize() + "."


def edit(text: str, rng: random.Random, k: int) -> str:
    words = text.split()
    for i in rng.sample(range(len(words)), min(k, len(words))):
        words[i] = rng.choice(EN) + "x"
    return " ".join(words)


def generate(n: int, seed: int) -> tuple[list[list[dict]], list[dict], dict]:
    """Conversations plus ground truth: planted near-dup pairs and languages."""
    rng = random.Random(seed)
    convs, pairs, langs = [], [], []
    while len(convs) < n:
        r = rng.random()
        if convs and r < 0.02:  # exact copy of an earlier one (identical: one row after import)
            src = rng.randrange(len(convs))
            convs.append([{**m, "content": m["content"].upper() if k == 0 else m["content"]}
                          for k, m in enumerate(convs[src])])
            langs.append(langs[src])
        elif convs and r < 0.08:  # near copy with a known number of word edits
            src = rng.randrange(len(convs))
            k = rng.choice((1, 2, 3, 5, 8, 12))
            convs.append([{**m, "content": edit(m["content"], rng, k) if m["role"] == "assistant" else m["content"]}
                          for m in convs[src]])
            langs.append(langs[src])
            pairs.append({"a": src, "b": len(convs) - 1, "edits": k})
        else:
            lang = "en" if rng.random() < 0.9 else rng.choice(list(OTHER))
            turns = []
            for t in range(rng.choice((1, 1, 2, 3))):
                turns.append({"role": "user", "content": make_text(rng, lang, rng.randint(8, 30)), "tool_calls": None})
                answer = make_text(rng, lang, rng.randint(60, 220))
                if rng.random() < 0.01:
                    answer += " " + rng.choice(LEAKS)
                turns.append({"role": "assistant", "content": answer, "tool_calls": None})
            convs.append(turns)
            langs.append(lang)
    return convs, pairs, {"langs": langs}


class PeakRSS:
    """Samples the resident memory of this process's children (and of itself with ``include_self``)."""

    def __init__(self, include_self: bool = True):
        self.peak = 0
        self.include_self = include_self
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.1):
            try:
                procs = me.children(recursive=True) + ([me] if self.include_self else [])
                total = 0
                for p in procs:
                    total += p.memory_info().rss
                    t = p.cpu_times()
                    self.cpu[p.pid] = t.user + t.system  # CPU time used: shows how much of 2 cores we got
            except psutil.Error:
                continue
            self.peak = max(self.peak, total)

    @property
    def cpu_seconds(self) -> float:
        return sum(self.cpu.values())

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def key_text(messages: list[dict]) -> str:
    from imitkit.curation.text import key_text as kt

    return kt(messages, "conversation")


def exact_jaccard(a: str, b: str) -> float:
    from imitkit.curation.minhash import shingle_hashes

    x, y = set(shingle_hashes(a)), set(shingle_hashes(b))
    return len(x & y) / len(x | y) if x | y else 0.0


def baseline_datasketch(texts: list[str], threshold: float) -> tuple[float, set]:
    """The straightforward loop: MinHash() + update() per shingle + MinHashLSH.insert, then query."""
    from datasketch import MinHash, MinHashLSH

    from imitkit.curation.minhash import shingles

    started = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    sketches = []
    for i, text in enumerate(texts):
        m = MinHash(num_perm=128)
        for s in shingles(text, 5):
            m.update(s.encode("utf8"))
        lsh.insert(i, m)
        sketches.append(m)
    pairs = {tuple(sorted((i, j))) for i, m in enumerate(sketches) for j in lsh.query(m) if j != i}
    return time.perf_counter() - started, pairs


def ours_kernel(texts: list[str], threshold: float, band_threshold: float, workers: int) -> tuple[float, set]:
    """imitkit's near-dup core on the same texts: signatures, numpy banding, verification."""
    from imitkit.curation import minhash
    from imitkit.curation.shingling import shingle_sets

    started = time.perf_counter()
    batches = [texts[i:i + 1000] for i in range(0, len(texts), 1000)]
    sigs = np.concatenate(list(minhash.parallel_signatures(batches, workers)))
    pairs = minhash.candidate_pairs(minhash.band_keys(sigs, *minhash.optimal_params(band_threshold)))
    est = minhash.signature_jaccard(sigs, pairs)
    pairs = pairs[est >= threshold - 0.2]
    docs = np.unique(pairs).tolist()
    sets = dict(zip(docs, shingle_sets([texts[i] for i in docs])))
    kept = set()
    for i, j in pairs.tolist():
        inter = np.intersect1d(sets[i], sets[j], assume_unique=True).size
        if inter / (sets[i].size + sets[j].size - inter) >= threshold:
            kept.add((i, j))
    return time.perf_counter() - started, kept


def recall_precision(found: set, truth: set, texts: list[str], threshold: float) -> tuple[float, float]:
    recall = len(found & truth) / len(truth) if truth else 1.0
    good = sum(exact_jaccard(texts[i], texts[j]) >= threshold for i, j in found)
    return recall, (good / len(found) if found else 1.0)


def pipeline_job(path: str, workers: int) -> tuple[float, list]:
    """The default pipeline over the registry at ``path``: seconds and per-step results."""
    from imitkit.curation.config import load_config, select_steps
    from imitkit.curation.pipeline import run_pipeline
    from imitkit.registry.store import Registry

    reg = Registry.open(Path(path))
    config = load_config(None, [f"workers={workers}"])
    t = time.perf_counter()
    _, steps = run_pipeline(reg, config, select_steps(config, None))
    seconds = time.perf_counter() - t
    reg.close()
    return seconds, steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000, help="conversations to generate (target: 1000000)")
    ap.add_argument("--baseline-n", type=int, default=5_000, help="conversations the datasketch baseline runs on")
    ap.add_argument("--lang-n", type=int, default=2_000, help="conversations for the detector agreement check")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "curate.json"))
    args = ap.parse_args()

    from imitkit.registry.records import Conversation
    from imitkit.registry.runs import recorded_run
    from imitkit.registry.store import Registry
    from imitkit.registry.writer import ConversationWriter

    t0 = time.perf_counter()
    convs, planted, truth = generate(args.n, args.seed)
    print(f"generated {len(convs):,} conversations, {len(planted):,} planted near copies "
          f"in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    texts = [key_text(c) for c in convs]
    threshold = 0.8
    results: dict = {"n": args.n, "seed": args.seed, "workers": args.workers, "cpus": os.cpu_count()}

    # -- near-dup kernel vs the datasketch loop, same texts -------------------------------
    sub = texts[: args.baseline_n]
    sub_truth = {(p["a"], p["b"]) for p in planted if p["b"] < len(sub) and exact_jaccard(sub[p["a"]], sub[p["b"]]) >= threshold}
    from imitkit.curation.minhash import parallel_signatures

    list(parallel_signatures([sub[:2]], args.workers))  # start the forkserver once, as any process would
    base_s, base_pairs = baseline_datasketch(sub, threshold)
    one_s, one_pairs = ours_kernel(sub, threshold, 0.7, 1)
    two_s, two_pairs = ours_kernel(sub, threshold, 0.7, args.workers)
    b_rec, b_prec = recall_precision(base_pairs, sub_truth, sub, threshold)
    o_rec, o_prec = recall_precision(two_pairs, sub_truth, sub, threshold)
    results["near_dup_kernel"] = {
        "docs": len(sub), "true_pairs": len(sub_truth),
        "datasketch_loop": {"seconds": round(base_s, 3), "docs_per_s": round(len(sub) / base_s, 1),
                            "recall": round(b_rec, 4), "precision": round(b_prec, 4)},
        "imitkit_1_worker": {"seconds": round(one_s, 3), "docs_per_s": round(len(sub) / one_s, 1),
                             "speedup": round(base_s / one_s, 1)},
        "imitkit_workers": {"seconds": round(two_s, 3), "docs_per_s": round(len(sub) / two_s, 1),
                            "speedup": round(base_s / two_s, 1), "recall": round(o_rec, 4), "precision": round(o_prec, 4)},
    }

    # -- language: default two-stage vs langdetect alone ----------------------------------
    from imitkit.curation.language import Detector, detection_text
    from imitkit.curation.text import role_text

    sample = [detection_text(role_text(c, ("user", "assistant")), 1000) for c in convs[: args.lang_n]]
    two, ref = Detector("two_stage", 0.8, 0), Detector("langdetect", 0.8, 0)
    two.detect(sample[0]), ref.detect(sample[0])  # load models outside the timing
    t = time.perf_counter()
    got = [two.detect(s)[0] for s in sample]
    two_s = time.perf_counter() - t
    t = time.perf_counter()
    want = [ref.detect(s)[0] for s in sample]
    ref_s = time.perf_counter() - t
    planted_lang = truth["langs"][: len(sample)]
    results["language"] = {
        "texts": len(sample), "agreement_with_langdetect": round(float(np.mean([a == b for a, b in zip(got, want)])), 4),
        "two_stage_accuracy": round(float(np.mean([a == b for a, b in zip(got, planted_lang)])), 4),
        "langdetect_accuracy": round(float(np.mean([a == b for a, b in zip(want, planted_lang)])), 4),
        "two_stage_per_s": round(len(sample) / two_s, 1), "langdetect_per_s": round(len(sample) / ref_s, 1),
        "speedup": round(ref_s / two_s, 1)}

    # -- the default pipeline over the registry --------------------------------------------
    tmp = tempfile.TemporaryDirectory()
    reg = Registry.open(Path(tmp.name) / "reg")
    t = time.perf_counter()
    with recorded_run(reg, "import", {}) as run:
        writer = ConversationWriter(reg, run, "bench", 20_000)
        ids = [writer.add(Conversation(c), "bench.jsonl", i) for i, c in enumerate(convs)]
        writer.flush()
    import_s = time.perf_counter() - t
    true_pairs = [(ids[p["a"]], ids[p["b"]]) for p in planted if exact_jaccard(texts[p["a"]], texts[p["b"]]) >= threshold]
    del convs, texts, sub
    gc.collect()
    reg.close()
    # The pipeline runs in a fresh process, as `imitkit curate` would: its peak RSS (with its
    # workers) is what is measured, not this process's heap left over from generating the data.
    with PeakRSS(include_self=False) as rss, ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        pipeline_s, steps = pool.submit(pipeline_job, str(Path(tmp.name) / "reg"), args.workers).result()
    reg = Registry.open(Path(tmp.name) / "reg")
    dropped = {r[0] for r in reg.query("SELECT conversation_id FROM t_verdict WHERE NOT keep "
                                       "AND step IN ('exact_dedup', 'near_dedup')").fetchall()}
    links = reg.rows("""SELECT a.messages AS a, b.messages AS b
                        FROM t_verdict v JOIN conversations a ON a.id = v.conversation_id
                        JOIN conversations b ON b.id = json_extract_string(v.details, '$.matched')
                        WHERE v.step = 'near_dedup' AND NOT v.keep""")
    reg.close()
    tmp.cleanup()
    collapsed = sum(1 for a, b in true_pairs if a in dropped or b in dropped or a == b)
    good = sum(exact_jaccard(key_text(r["a"]), key_text(r["b"])) >= threshold for r in links)
    results["pipeline"] = {
        "import_seconds": round(import_s, 2), "seconds": round(pipeline_s, 2), "peak_rss_mb": round(rss.peak / 2**20, 1),
        "cpu_seconds": round(rss.cpu_seconds, 1),
        "planted_true_pairs": len(true_pairs), "near_dup_recall": round(collapsed / max(1, len(true_pairs)), 4),
        "near_dup_precision": round(good / max(1, len(links)), 4),
        "steps": [{"step": s.step, "judged": s.judged, "dropped": s.dropped, "seconds": round(s.seconds, 2),
                   "conv_per_s": round(s.rate, 1), "skipped": s.skipped} for s in steps]}

    print(f"\n{'step':<14} {'judged':>9} {'dropped':>8} {'seconds':>8} {'conv/s':>9}")
    for s in results["pipeline"]["steps"]:
        print(f"{s['step']:<14} {s['judged']:>9,} {s['dropped']:>8,} {s['seconds']:>8.2f} {s['conv_per_s']:>9,.0f}"
              + (f"  ({s['skipped']})" if s["skipped"] else ""))
    p = results["pipeline"]
    print(f"pipeline: {args.n:,} conversations in {p['seconds']:.1f}s (+ import {p['import_seconds']:.1f}s), "
          f"peak RSS (with workers) {p['peak_rss_mb']:,.0f} MB, {p['cpu_seconds']:,.0f} CPU-s; near-dup recall {p['near_dup_recall']:.3f}, "
          f"precision {p['near_dup_precision']:.3f} on {p['planted_true_pairs']:,} planted pairs with J >= {threshold}")
    k = results["near_dup_kernel"]
    print(f"\nnear-dup on {k['docs']:,} texts ({k['true_pairs']} planted pairs, J >= {threshold}):")
    print(f"  datasketch loop   {k['datasketch_loop']['docs_per_s']:>9,.0f} docs/s  1.0x   "
          f"recall {k['datasketch_loop']['recall']:.3f} precision {k['datasketch_loop']['precision']:.3f}")
    print(f"  imitkit, 1 worker {k['imitkit_1_worker']['docs_per_s']:>9,.0f} docs/s  {k['imitkit_1_worker']['speedup']}x")
    print(f"  imitkit, {args.workers} workers {k['imitkit_workers']['docs_per_s']:>8,.0f} docs/s  "
          f"{k['imitkit_workers']['speedup']}x  recall {k['imitkit_workers']['recall']:.3f} "
          f"precision {k['imitkit_workers']['precision']:.3f}")
    lg = results["language"]
    print(f"\nlanguage on {lg['texts']:,} texts: two-stage agrees with langdetect on {lg['agreement_with_langdetect']:.1%}; "
          f"{lg['two_stage_per_s']:,.0f}/s vs langdetect {lg['langdetect_per_s']:,.0f}/s ({lg['speedup']}x); "
          f"accuracy vs planted: two-stage {lg['two_stage_accuracy']:.1%}, langdetect {lg['langdetect_accuracy']:.1%}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
