"""Task-targeted prompt synthesis: parsing, novelty (ROUGE-L) and eval-set decontamination."""

from __future__ import annotations

import itertools
import json

import pytest

from imitkit.collectors.teacher.novelty import NoveltyIndex, rouge_l, tokens
from imitkit.collectors.teacher.tasks import load_task
from imitkit.registry.store import Registry

SEEDS = ["when was the last time anyone was on the moon", "who wrote he ain't heavy he's my brother lyrics",
         "how many seasons of the bastard executioner are there", "where is the great barrier reef located",
         "who played the lead in the movie titanic", "what is the tallest mountain in africa"]
EVAL_ITEM = "who sings ain't nothing but a good time"
NOVEL = ["which river flows through budapest", "who painted the girl with a pearl earring",
         "what year did the berlin wall fall", "how many moons does neptune have",
         "who discovered penicillin in 1928", "what language is spoken in brazil",
         "when did the first iphone come out", "who composed the four seasons concertos",
         "what is the chemical symbol for gold", "where were the 1964 summer olympics held",
         "how long is the great wall of china", "who invented the telephone first"]


def _rows(registry_dir, sql):
    with Registry.open(registry_dir, read_only=True) as reg:
        return reg.rows(sql)


def test_rouge_l_matches_the_lcs_definition():
    a, b = tokens("The cat sat on the mat"), tokens("the cat lay on a mat")
    assert rouge_l(a, b) == pytest.approx(2 * 4 / 12)  # LCS: the cat on mat
    assert rouge_l(a, a) == 1.0 and rouge_l(a, []) == 0.0
    index = NoveltyIndex(0.7)
    for s in SEEDS:
        index.add(s, "seed")
    score, doc = index.nearest("when was the last time anybody was on the moon")
    assert doc == 0 and score == pytest.approx(2 * 9 / 20)
    assert index.nearest("Who played the lead in the movie Titanic?") == (1.0, 4)
    assert index.nearest("what is the capital of peru")[1] is None


def test_numbered_parser_drops_a_cut_last_item():
    task = load_task("nq")
    reply = "Here you go:\n1. who won the 1998 world cup\n2) what is the largest desert\n3. how many legs does a spi"
    assert task.parse(reply) == ["who won the 1998 world cup", "what is the largest desert", "how many legs does a spi"]
    assert task.parse(reply, truncated=True) == ["who won the 1998 world cup", "what is the largest desert"]
    assert "{examples}" not in task.render(["a", "b"], 3) and "1. a\n2. b" in task.render(["a", "b"], 3)


def _teacher(counter=itertools.count()):
    def respond(body: dict, sample: int) -> str:
        last = body["messages"][-1]["content"]
        if "numbered list" not in last:
            return "Neil Armstrong"  # answering a synthesized question
        k = next(counter)
        return "\n".join([
            f"1. {SEEDS[0]}",
            "2. when was the last time anybody was on the moon",
            f"3. {EVAL_ITEM.upper()}?",
            f"4. {NOVEL[2 * k % len(NOVEL)]}",
            f"5. {NOVEL[2 * k % len(NOVEL)]}",
            "6. hi",
            f"7. {NOVEL[(2 * k + 1) % len(NOVEL)]}",
        ])
    return respond


def test_synthesis_keeps_novel_prompts_and_rejects_copies_with_reasons(cli, fake_openai, tmp_path, registry_dir):
    fake_openai.responder = _teacher()
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps({"question": s, "answer": ["x"]}) + "\n" for s in SEEDS))
    evalfile = tmp_path / "eval.jsonl"
    evalfile.write_text(json.dumps({"question": EVAL_ITEM, "answer": ["Poison"]}) + "\n")
    assert cli("evalset", "add", "nq-mini", str(evalfile), "--field", "question").code == 0
    args = ["teacher", "synthesize", "--task", "nq", "--seeds", seeds, "--model", "gpt-4o-mini", "--base-url",
            fake_openai.base_url, "--shots", "3", "--concurrency", "2", "--retry-base-delay", "0.01"]
    result = cli(*args, "--n", "4")
    assert result.code == 0, result
    assert "4 new prompts accepted" in result.out
    prompts = _rows(registry_dir, "SELECT * FROM teacher_prompts ORDER BY created_at, text")
    accepted = [p["text"] for p in prompts if p["accepted"]]
    assert len(accepted) == 4 and set(accepted) <= set(NOVEL)
    reasons = {p["text"]: p["reason"] for p in prompts if not p["accepted"]}
    assert reasons[f"{EVAL_ITEM.upper()}?"] == "copy of eval set nq-mini item 0"
    assert reasons["when was the last time anybody was on the moon"] == "near-duplicate of a seed"
    assert reasons[SEEDS[0]] == "near-duplicate of a seed"
    assert reasons["hi"] == "too short"
    assert all(p["template_version"] == "1" and p["model"] == "gpt-4o-mini" for p in prompts)
    calls_before = fake_openai.total_successes
    assert _rows(registry_dir, "SELECT count(*) AS n FROM teacher_calls WHERE source = 'synth:nq'")[0]["n"] == calls_before
    # The shot lists follow a seeded RNG: asking for more reuses the answers already paid for first.
    more = cli(*args, "--n", "6")
    assert more.code == 0 and "2 new prompts accepted (6 in total)" in more.out
    assert fake_openai.total_successes == calls_before + 1
    # Then answer them, with the task's short-answer instruction.
    answered = cli("teacher", "answer", "--prompts", "synth:nq", "--model", "gpt-4o-mini",
                   "--base-url", fake_openai.base_url)
    assert answered.code == 0 and "6 answered" in answered.out
    conv = _rows(registry_dir, "SELECT messages FROM conversations WHERE source = 'teacher:gpt-4o-mini' LIMIT 1")
    roles = [m["role"] for m in conv[0]["messages"]]
    assert roles == ["system", "user", "assistant"] and "short factual answer" in conv[0]["messages"][0]["content"]


def test_synthesis_against_real_nq_open_seeds(cli, fake_openai, shared_data, registry_dir, tmp_path):
    dev = shared_data / "nq_open" / "NQ-open.dev.jsonl"
    efficient = shared_data / "nq_open" / "NQ-open.efficientqa.dev.1.1.jsonl"
    assert cli("evalset", "add", "efficientqa", str(efficient), "--field", "question").code == 0
    copies = [json.loads(line)["question"] for line in efficient.read_text().splitlines()[:3]]

    def respond(body: dict, sample: int) -> str:
        # The teacher echoes the shots it was shown (near-duplicates) plus eval questions (contamination).
        shown = [line.split(". ", 1)[1] for line in body["messages"][-1]["content"].splitlines()
                 if line[:1].isdigit() and ". " in line]
        return "\n".join(f"{i}. {t}" for i, t in enumerate(shown + copies + ["what is the airspeed of a swallow"], 1))

    fake_openai.responder = respond
    result = cli("teacher", "synthesize", "--task", "nq", "--seeds", dev, "--n", "1", "--model", "m",
                 "--base-url", fake_openai.base_url)
    assert result.code == 0 and "1 new prompts accepted" in result.out, result
    counts = _rows(registry_dir, "SELECT reason, count(*) AS n FROM teacher_prompts GROUP BY reason ORDER BY reason")
    by_reason = {r["reason"]: r["n"] for r in counts}
    assert by_reason == {None: 1, "copy of eval set efficientqa item 0": 1, "copy of eval set efficientqa item 1": 1,
                         "copy of eval set efficientqa item 2": 1, "near-duplicate of a seed": 5}
