"""teacher answer --workers N: HTTP attempts in worker processes, all bookkeeping in the main one."""

from __future__ import annotations

import pytest

from imitkit.collectors.teacher.config import load_options
from imitkit.collectors.teacher.errors import ConfigError
from imitkit.collectors.teacher.workers import default_workers
from imitkit.registry.store import Registry

MODEL = "gpt-4o-mini"


def _rows(registry_dir, sql):
    with Registry.open(registry_dir, read_only=True) as reg:
        return reg.rows(sql)


def test_worker_count_defaults_and_validation(tmp_path, monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert default_workers(16) == 1 and default_workers(64) == 3
    base = {"prompts": "p.txt", "model": MODEL}
    assert load_options(None, {**base, "concurrency": 256}).worker_count() == 3
    assert load_options(None, {**base, "concurrency": 256, "workers": 1}).worker_count() == 1
    config = tmp_path / "answer.yaml"
    config.write_text("workers: 2\nconcurrency: 8\n")
    assert load_options(str(config), base).worker_count() == 2
    assert load_options(str(config), {**base, "workers": 4}).worker_count() == 4  # the command line wins
    with pytest.raises(ConfigError, match="--workers must be at least 1"):
        load_options(None, {**base, "workers": 0})


def test_workers_answer_each_prompt_once_retry_and_share_a_429_pause(cli, fake_openai, prompts_file, registry_dir):
    texts = ["alpha first"] + [f"other question {i}" for i in range(23)]
    prompts = prompts_file(texts)
    fake_openai.latency = 0.03
    fake_openai.add_fault("429", match="alpha", times=1, retry_after=0.8)
    fake_openai.add_fault("500", match="question 7", times=1)
    fake_openai.add_fault("malformed", match="question 9", times=1)
    fake_openai.add_fault("context_length", match="question 11", times=1)
    result = cli("teacher", "answer", "--prompts", prompts, "--model", MODEL, "--base-url", fake_openai.base_url,
                 "--retry-base-delay", "0.01", "--timeout", "5", "--concurrency", "4", "--workers", "2")
    assert result.code == 0, result
    assert "23 answered" in result.out and "1 failed" in result.out and "context length" in result.out
    assert set(fake_openai.successes.values()) == {1} and fake_openai.total_successes == 23
    attempts = {r["text"]: r["attempts"] for r in _rows(
        registry_dir, "SELECT json_extract_string(messages, '$[0].content') AS text, attempts FROM teacher_calls")}
    assert attempts["alpha first"] == 2 and attempts["other question 7"] == 2 and attempts["other question 9"] == 2
    assert _rows(registry_dir, "SELECT count(*) AS n FROM conversations WHERE origin = 'teacher'")[0]["n"] == 23
    # The 429's Retry-After holds back every worker: nothing new reaches the server during the pause
    # (a small margin covers requests already handed to a worker when the 429 came back).
    limited = next(t for t, text, status in fake_openai.replies if status == 429)
    during = [text for t, text in fake_openai.arrivals if limited + 0.15 < t < limited + 0.75]
    assert during == []
    assert any(t >= limited + 0.75 for t, _ in fake_openai.arrivals)


def test_workers_respect_the_budget_and_a_rerun_continues(cli, fake_openai, prompts_file, registry_dir, tmp_path):
    prices = tmp_path / "prices.yaml"
    prices.write_text("models:\n  priced-model: {input: 1000, output: 1000}\n")
    prompts = prompts_file([f"budget question {i}" for i in range(12)])
    args = ["teacher", "answer", "--prompts", prompts, "--model", "priced-model", "--base-url", fake_openai.base_url,
            "--prices", prices, "--max-tokens", "10", "--concurrency", "2", "--workers", "2"]
    first = cli(*args, "--budget-usd", "0.1")
    assert first.code == 0 and "budget reached" in first.out
    spent = _rows(registry_dir, "SELECT sum(cost_usd) AS usd, count(*) AS n FROM teacher_calls")[0]
    assert 0 < spent["n"] < 12 and spent["usd"] <= 0.1
    second = cli(*args)
    assert second.code == 0 and f"{12 - spent['n']} answered" in second.out
    assert set(fake_openai.successes.values()) == {1} and fake_openai.total_successes == 12
