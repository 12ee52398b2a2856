"""Scoring functions shared by the tasks and by ``imitkit eval score``.

NQ uses the SQuAD/DPR answer normalisation (lower case, drop punctuation and articles,
collapse whitespace) plus NFKC, so non-breaking spaces in gold answers match plain
spaces. pass@k is the unbiased estimator from the Codex paper (Chen et al. 2021).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from typing import Iterable

import numpy as np

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | {"‘", "’", "“", "”", "–", "—", "…"}


def normalize_answer(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, golds: Iterable[str]) -> float:
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in golds))


def token_f1(prediction: str, golds: Iterable[str]) -> float:
    """Best SQuAD token F1 of ``prediction`` against any gold answer."""
    pred_tokens = normalize_answer(prediction).split()
    best = 0.0
    for gold in golds:
        gold_tokens = normalize_answer(gold).split()
        if not pred_tokens or not gold_tokens:
            best = max(best, float(pred_tokens == gold_tokens))
            continue
        common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
        if common:
            precision, recall = common / len(pred_tokens), common / len(gold_tokens)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for ``n`` samples of which ``c`` passed: 1 - C(n-c, k) / C(n, k)."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    # The product form avoids the huge binomials of the direct formula.
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def mean_pass_at_k(results: dict[str, list[bool]], ks: Iterable[int] = (1, 10, 100)) -> dict[str, float]:
    """pass@k averaged over problems, for every k that every problem has enough samples for."""
    if not results:
        return {}
    fewest = min(len(v) for v in results.values())
    metrics = {}
    for k in ks:
        if k <= fewest:
            metrics[f"pass@{k}"] = float(np.mean([pass_at_k(len(v), sum(v), k) for v in results.values()]))
    return metrics


def gap_closed(base: float, imitation: float, teacher: float) -> float | None:
    """Share of the base→teacher gap the imitation model closes; None when there is no gap."""
    gap = teacher - base
    if abs(gap) < 1e-12:
        return None
    return (imitation - base) / gap


def grouped_accuracy(correct: list[bool], groups: list[str]) -> dict[str, float]:
    totals: dict[str, list[int]] = {}
    for ok, group in zip(correct, groups):
        t = totals.setdefault(group, [0, 0])
        t[0] += int(ok)
        t[1] += 1
    return {g: right / n for g, (right, n) in sorted(totals.items())}
