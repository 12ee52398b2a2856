"""Scoring arithmetic: NQ normalisation, pass@k, gap closed, judge verdicts, style, letters."""

from __future__ import annotations

import itertools
import math

import pytest

from imitkit.eval.judge import combine, parse_verdict
from imitkit.eval.metrics import exact_match, gap_closed, mean_pass_at_k, normalize_answer, pass_at_k, token_f1
from imitkit.eval.mmlu import first_letter
from imitkit.eval.report import build
from imitkit.eval.style import style_stats


@pytest.mark.parametrize("raw, expected", [
    ("The Beatles", "beatles"),
    ("November\u00a06, 1986", "november 6 1986"),
    ("  A   tale of  two cities. ", "tale of two cities"),
    ("U.S.A.", "usa"),
    ("an apple, the pear", "apple pear"),
    ("Theatre", "theatre"),  # 'the' only as a whole word
    ("“Quoted” — dash", "quoted dash"),
])
def test_normalize_answer(raw, expected):
    assert normalize_answer(raw) == expected


def test_exact_match_takes_the_best_gold_and_handles_nbsp():
    assert exact_match("december 1972", ["14 December 1972 UTC", "December 1972"]) == 1.0
    assert exact_match("November 6, 1986", ["November\u00a06, 1986"]) == 1.0
    assert exact_match("1972", ["December 1972"]) == 0.0


def test_token_f1():
    assert token_f1("the bobby scott", ["Bobby Scott"]) == 1.0
    assert token_f1("bobby", ["Bobby Scott"]) == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert token_f1("nothing", ["Bobby Scott", "Bob Russell"]) == 0.0
    assert token_f1("", [""]) == 1.0


def _brute_pass_at_k(n: int, c: int, k: int) -> float:
    outcomes = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(outcomes[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n, c, k", [(10, 1, 1), (10, 3, 2), (8, 0, 3), (6, 6, 4), (7, 2, 5), (5, 1, 5)])
def test_pass_at_k_matches_the_combinatorial_definition(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(_brute_pass_at_k(n, c, k))


def test_mean_pass_at_k_reports_only_reachable_k():
    metrics = mean_pass_at_k({"a": [True, False], "b": [False, False]}, ks=(1, 2, 10))
    assert metrics == {"pass@1": pytest.approx(0.25), "pass@2": pytest.approx(0.5)}
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_gap_closed_arithmetic():
    assert gap_closed(0.2, 0.25, 0.6) == pytest.approx(0.125)
    assert gap_closed(0.5, 0.4, 0.7) == pytest.approx(-0.5)  # worse than base
    assert gap_closed(2.0, 1.5, 1.0) == pytest.approx(0.5)  # lower-is-better metrics work too
    assert gap_closed(0.3, 0.3, 0.3) is None


def _rows(model, task, metric, value, base=None, tokens=None):
    return {"model": model, "task": task, "metric": metric, "value": value, "n": 10, "snapshot": None,
            "trainable_tokens": tokens, "base_model": base, "created_at": None}


def test_report_gap_closed_per_task_and_base_from_lineage():
    rows = [_rows("base", "nq", "exact_match", 0.20), _rows("base", "mmlu", "accuracy", 0.40),
            _rows("imit", "nq", "exact_match", 0.22, base="base"), _rows("imit", "mmlu", "accuracy", 0.43, base="base"),
            _rows("imit", "judge", "score", 0.40, base="base"), _rows("base", "judge", "score", 0.10),
            _rows("gpt", "nq", "exact_match", 0.40), _rows("gpt", "mmlu", "accuracy", 0.70)]
    doc = build(rows, teacher="gpt")
    assert doc["base"] == "base"  # from the imitation model's lineage
    gaps = {g["task"]: g["gap_closed"] for g in doc["gap_closed"]}
    assert gaps["nq"] == pytest.approx(0.1)
    assert gaps["mmlu"] == pytest.approx(0.1)
    assert gaps["judge"] == pytest.approx((0.40 - 0.10) / (0.5 - 0.10))  # the teacher ties with itself


def test_judge_verdicts_cancel_position_bias():
    assert parse_verdict("reasoning... [[A]]") == "A"
    assert parse_verdict("[[A]] no wait [[C]]") == "C"
    assert parse_verdict("A is better") is None
    assert combine("A", "B") == "win"       # model preferred in both orders
    assert combine("B", "A") == "loss"
    assert combine("A", "A") == "tie"       # always picks the first: position bias, cancelled
    assert combine("C", "C") == "tie"
    assert combine(None, "A") == "invalid"


def test_first_letter_of_a_constrained_answer():
    assert [first_letter(t) for t in ["B", " c.", "(D) because", "The answer is A.", "Apples", "??"]] == \
        ["B", "C", "D", "A", "", ""]


def test_style_stats():
    stats = style_stats(["Sure!\n- one\n- two", "**Bold** answer. However, it depends.", "plain words here"])
    assert stats["words"] == pytest.approx((5 + 5 + 3) / 3)
    assert stats["list_rate"] == pytest.approx(1 / 3)
    assert stats["markdown_rate"] == pytest.approx(1 / 3)
    assert stats["hedge_rate"] == pytest.approx(1 / 3)
    assert not math.isnan(stats["chars"])
