"""A tiny Llama built in the test runs every local task end to end; results land in the registry."""

from __future__ import annotations

import json
import math

import pyarrow.parquet as pq
import pytest

from imitkit.eval.models import ModelSpec
from imitkit.registry.store import Registry


@pytest.fixture(scope="module")
def local_model(tiny_model):
    from imitkit.eval.local_model import LocalModel

    return LocalModel(ModelSpec("local", str(tiny_model)), batch_size=4, device="cpu")


@pytest.mark.slow
def test_every_local_task_end_to_end(cli, tiny_model, registry_dir, shared_data, write_heldout, monkeypatch):
    monkeypatch.setenv("IMITKIT_EVAL_DATA", str(shared_data))
    snapshot = registry_dir / "snapshots" / "s1"
    write_heldout(snapshot / "eval.parquet")
    (snapshot / "manifest.json").write_text(json.dumps(
        {"name": "s1", "fingerprint": "fp-s1", "splits": {"train": {"trainable_tokens": 12345}}}))
    result = cli("eval", "run", "--model", tiny_model, "--tasks", "nq,mmlu,humaneval,heldout", "--limit", "3",
                 "--snapshot", "s1", "--max-new-tokens", "12", "--batch-size", "2", "--shots", "1", "--json")
    assert result.code == 0, result
    summary = json.loads(result.out)
    assert set(summary) == {"nq", "mmlu", "humaneval", "heldout"}
    for task, key in (("nq", "exact_match"), ("mmlu", "accuracy"), ("humaneval", "pass@1")):
        assert 0.0 <= summary[task][key] <= 1.0 and summary[task]["n"] == 3
    held = summary["heldout"]
    assert held["loss"] > 0 and held["perplexity"] == pytest.approx(math.exp(held["loss"]))
    assert held["style/teacher/list_rate"] == 1.0 and held["style/teacher/markdown_rate"] == 1.0

    with Registry.open(registry_dir, read_only=True) as reg:
        evals = reg.rows("SELECT model, task, n, snapshot, snapshot_fingerprint, trainable_tokens, predictions "
                         "FROM evals ORDER BY task")
        assert [e["task"] for e in evals] == ["heldout", "humaneval", "mmlu", "nq"]
        assert {(e["snapshot"], e["snapshot_fingerprint"], e["trainable_tokens"]) for e in evals} == \
            {("s1", "fp-s1", 12345)}
        preds = pq.read_table(reg.root / evals[2]["predictions"]).to_pylist()
        assert [p["item_id"] for p in preds] == ["abstract_algebra/0", "abstract_algebra/1", "abstract_algebra/2"]
        assert all(p["output"] in "ABCD" and p["prompt"].endswith("Answer:") for p in preds)
        sets = {r["name"]: r["n_items"] for r in reg.rows("SELECT name, n_items FROM evalsets")}
        assert sets == {"nq": 3610, "mmlu": 14042, "humaneval": 164}
        assert reg.scalar("SELECT count(*) FROM runs WHERE command = 'eval run' AND status = 'ok'") == 4
    report = cli("eval", "report", "--json")
    doc = json.loads(report.out)
    assert doc["models"] == [str(tiny_model)] and set(doc["tasks"]) == set(summary)


@pytest.mark.slow
def test_interrupted_run_resumes_from_cached_predictions(cli, tiny_model, registry_dir, shared_data, monkeypatch):
    from imitkit.eval import nq

    monkeypatch.setenv("IMITKIT_EVAL_DATA", str(shared_data))
    monkeypatch.setattr(nq.NQTask, "chunk", 2)
    calls = {"n": 0}
    real = nq.NQTask.predict

    def flaky(self, model, items):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, model, items)

    monkeypatch.setattr(nq.NQTask, "predict", flaky)
    args = ("eval", "run", "--model", tiny_model, "--tasks", "nq", "--limit", "4", "--max-new-tokens", "4")
    assert cli(*args).code == 130
    result = cli(*args)
    assert result.code == 0, result
    assert "2 resumed" in result.err
    assert not list((registry_dir / "evals" / "partial").rglob("*.jsonl"))  # cache gone once stored


def test_letter_scores_fast_path_matches_full_likelihood(local_model):
    prompts = ["Question one?\nA. x\nB. y\nC. z\nD. w\nAnswer:", "Short\nAnswer:"]
    letters = ["A", "B", "C", "D"]  # single byte-level tokens: the one-forward-pass path
    ids = [local_model.tokenizer(c, add_special_tokens=False)["input_ids"] for c in letters]
    assert all(len(i) == 1 for i in ids)
    fast = local_model.choice_logprobs(prompts, letters)
    slow = [[local_model._continuation_logprob(p, i) for i in ids] for p in prompts]
    assert sum(fast, []) == pytest.approx(sum(slow, []), abs=1e-4)  # left padding and batching change nothing
    multi = [" and", " the answer", " x y", "Answer"]
    assert any(len(local_model.tokenizer(c, add_special_tokens=False)["input_ids"]) > 1 for c in multi)
    scores = local_model.choice_logprobs(prompts, multi)
    assert all(len(r) == 4 and all(v < 0 for v in r) for r in scores)


def test_batched_greedy_generation_equals_one_by_one(local_model):
    prompts = ["Q: who wrote hamlet?\nA:", "def add(a, b):\n", "x"]
    batched = local_model.generate(prompts, max_new_tokens=6)
    single = [local_model.generate([p], max_new_tokens=6)[0] for p in prompts]
    assert batched == single


def test_assistant_loss_counts_only_assistant_tokens(local_model):
    conv = [{"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "The capital of France is **Paris**."}]
    (nll, tokens), = local_model.assistant_nll([conv])
    text, spans = local_model._assistant_spans(conv)
    assert text[spans[0][0]:spans[0][1]] == conv[1]["content"]
    n_answer = len(local_model.tokenizer(conv[1]["content"], add_special_tokens=False)["input_ids"])
    assert abs(tokens - n_answer) <= 1 and nll > 0
    longer = conv + [{"role": "user", "content": "And Spain?"}, {"role": "assistant", "content": "Madrid."}]
    (_, more), = local_model.assistant_nll([longer])
    assert more > tokens
