"""Eval data loaders on the real shared files, MMLU scoring, and eval-set registration."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from imitkit.eval import data
from imitkit.eval.mmlu import prompt, score_outputs
from imitkit.eval.store import register_evalset


def test_mmlu_both_layouts_read_to_the_same_items(shared_data):
    hf_test, hf_dev = data.load_mmlu(shared_data / "mmlu" / "hf_style_copy")
    git_test, git_dev = data.load_mmlu(shared_data / "mmlu" / "hendrycks_git_2020")
    assert len(hf_test) == 14_042 and len(git_test) == 14_079  # canonical vs pre-release counts
    assert len({i.meta["subject"] for i in hf_test}) == 57
    assert {i.meta["category"] for i in hf_test} == {"STEM", "humanities", "social sciences",
                                                       "other (business, health, misc.)"}
    # dev holds the same items in both: the header row and 0-3 answers are normalised away
    # (the release edited a few: "... according to the medical knowledge of 2020", one answer key)
    pairs = [(a, b) for s in sorted(hf_dev) for a, b in zip(hf_dev[s], git_dev[s], strict=True)]
    assert len(pairs) == 285 and all(a.id == b.id for a, b in pairs)
    assert sum(a.target == b.target for a, b in pairs) >= 280
    assert sum(a.text == b.text for a, b in pairs) >= 250  # 259 identical in these copies
    assert hf_dev["anatomy"][0].target == "D" and hf_test[0].id == "abstract_algebra/0"


def test_mmlu_gold_scores_one_and_a_constant_scores_its_share(shared_data):
    items, dev = data.load_mmlu(shared_data / "mmlu" / "hf_style_copy")
    metrics, rows = score_outputs(items, [i.target for i in items])
    assert metrics["accuracy"] == 1.0 and metrics["accuracy_macro"] == 1.0
    assert all(v == 1.0 for k, v in metrics.items() if k.startswith(("subject/", "category/")))
    share = Counter(i.target for i in items)["C"] / len(items)
    metrics, _ = score_outputs(items, ["C"] * len(items))
    assert metrics["accuracy"] == pytest.approx(share)
    anatomy = [i for i in items if i.meta["subject"] == "anatomy"]
    assert metrics["subject/anatomy"] == pytest.approx(sum(i.target == "C" for i in anatomy) / len(anatomy))
    text = prompt(items[0], dev["abstract_algebra"][:2])
    assert text.startswith("The following are multiple choice questions (with answers) about abstract algebra.")
    assert text.count("Answer:") == 3 and text.endswith("D. " + items[0].meta["choices"][3] + "\nAnswer:")


def test_nq_items_and_shots_from_another_split(shared_data):
    path = shared_data / "nq_open" / "NQ-open.dev.jsonl"
    items = data.load_nq(path)
    assert len(items) == 3610 and items[0].id == "0" and "December 1972" in items[0].target
    shots, scored = data.nq_shots(path, 5, items)
    assert len(shots) == 5 and scored == items  # exemplars come from EfficientQA dev
    assert not {q for q, _ in shots} & {i.text for i in items[:50]}


def test_humaneval_items(shared_data):
    items = data.load_humaneval(shared_data / "humaneval" / "HumanEval.jsonl.gz")
    assert len(items) == 164 and items[0].id == "HumanEval/0"
    assert items[0].meta["entry_point"] == "has_close_elements" and "def check" in items[0].meta["test"]


def test_missing_data_is_one_clear_error(tmp_path):
    with pytest.raises(data.EvalDataError, match="not found"):
        data.resolve("nq", tmp_path / "nope.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": ["a"]}\nnot json\n')
    with pytest.raises(data.EvalDataError, match="line 2"):
        data.load_nq(bad)


def test_eval_sets_are_registered_once_for_decontamination(registry, shared_data, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(shared_data))
    path = shared_data / "humaneval" / "HumanEval.jsonl.gz"
    assert register_evalset(registry, "humaneval", path) == 164
    assert register_evalset(registry, "humaneval", path) == 0  # unchanged: not rewritten
    row = registry.rows("SELECT name, task, field, n_items FROM evalsets")[0]
    assert row == {"name": "humaneval", "task": "humaneval", "field": "prompt", "n_items": 164}
    text = registry.scalar("SELECT text FROM evalset_items WHERE item_id = 'HumanEval/0'")
    assert text.startswith("from typing import List")
    other = shared_data / "nq_open" / "NQ-open.efficientqa.dev.1.1.jsonl"
    assert register_evalset(registry, "nq", other) == 1800
    answers = registry.scalar("SELECT answers FROM evalset_items WHERE evalset = 'nq:NQ-open' AND item_id = '0'")
    assert isinstance(json.loads(answers), list)
