"""API models and the judge through a loopback OpenAI-compatible server and the real openai client."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from imitkit.eval import data


@pytest.fixture
def gold(shared_data, monkeypatch):
    monkeypatch.setenv("IMITKIT_EVAL_DATA", str(shared_data))
    nq = {i.text: i.target[0] for i in data.load_nq(shared_data / "nq_open" / "NQ-open.dev.jsonl")}
    mmlu = {i.text: i.target for i in data.load_mmlu(shared_data / "mmlu" / "hf_style_copy")[0][:50]}
    with gzip.open(shared_data / "humaneval" / "HumanEval.jsonl.gz", "rt") as f:
        humaneval = [json.loads(line) for line in f][:5]
    return nq, mmlu, humaneval


def teacher_like(nq, mmlu, humaneval):
    """An API model that knows every answer, replying the way chat models do."""

    def respond(messages, body):
        text = messages[-1]["content"]
        if text.startswith("Complete the following Python function"):
            p = next(p for p in humaneval if p["prompt"] in text)
            return f"Sure! Here it is:\n```python\n{p['prompt']}{p['canonical_solution']}```\nHope it helps."
        if "Answer:" in text:  # MMLU: find the last question in the prompt
            last = text.rsplit("\n\n", 1)[-1]
            return f"{mmlu[last.split(chr(10) + 'A. ')[0]]}"
        question = re.findall(r"Q: (.*)\?\nA:$", text)[0]
        return nq[question]

    return respond


def test_api_model_scores_the_benchmarks(cli, fake_openai, gold):
    fake_openai.respond = teacher_like(*gold)
    result = cli("eval", "run", "--model", fake_openai.spec("teacher-1"), "--tasks", "nq,mmlu,humaneval",
                 "--limit", "5", "--json")
    assert result.code == 0, result
    summary = json.loads(result.out)
    assert summary["nq"]["exact_match"] == 1.0
    assert summary["mmlu"]["accuracy"] == 1.0
    assert summary["humaneval"]["pass@1"] == 1.0
    sent = fake_openai.bodies
    assert {r["model"] for r in sent} == {"teacher-1"} and all(r["temperature"] == 0.0 for r in sent)
    assert any(r.get("stop") == ["\n"] for r in sent)  # NQ short answers stop at the line end


def test_judge_counts_wins_and_cancels_position_bias(cli, fake_openai, write_heldout, tmp_path):
    heldout = write_heldout(tmp_path / "eval.parquet", n=4)

    def respond(messages, body):
        if body["model"] == "judge":
            a = messages[-1]["content"].split("[The Start of Assistant A's Answer]\n")[1]
            # prefers whichever answer has a list: the "style" judge the paper warns about
            return "Reasoning. [[A]]" if a.startswith("- ") or "\n- " in a.split("[The End")[0] else "[[B]]"
        return "short"

    fake_openai.respond = respond
    args = ("eval", "run", "--model", fake_openai.spec("student"), "--tasks", "heldout,judge", "--heldout", heldout,
            "--judge", fake_openai.spec("judge"), "--json")
    summary = json.loads(cli(*args).out)
    assert summary["judge"]["loss_rate"] == 1.0 and summary["judge"]["score"] == 0.0
    assert summary["judge"]["position_consistency"] == 1.0
    assert "loss" not in summary["heldout"]  # API models give no logits: style only
    assert summary["heldout"]["style/model/words"] == 1.0
    assert summary["heldout"]["style/teacher/list_rate"] == 1.0

    fake_openai.respond = lambda messages, body: "[[A]]" if body["model"] == "judge" else "short"
    summary = json.loads(cli(*args[:5], "judge", *args[6:], "--name", "biased").out)
    assert summary["judge"]["tie_rate"] == 1.0 and summary["judge"]["position_consistency"] == 0.0


def test_api_errors_are_one_line(cli, fake_openai, gold, monkeypatch):
    spec = "openai:gone@http://127.0.0.1:9/v1"
    result = cli("eval", "run", "--model", spec, "--tasks", "nq", "--limit", "1")
    assert result.code == 1 and result.err.startswith("Error: openai:gone") and "Traceback" not in result.err
    result = cli("eval", "run", "--model", "openai:gpt-4o", "--tasks", "nq", "--limit", "1")
    assert result.code == 1 and "OPENAI_API_KEY" in result.err
    result = cli("eval", "run", "--model", fake_openai.spec("m"), "--tasks", "judge")
    assert result.code == 1 and "--judge" in result.err
