"""teacher answer against the loopback server: answers, call log, never paying twice, faults."""

from __future__ import annotations

import json


from imitkit.registry.store import Registry

MODEL = "gpt-4o-mini"


def _answer(cli, server, prompts, *extra):
    return cli("teacher", "answer", "--prompts", prompts, "--model", MODEL, "--base-url", server.base_url,
               "--retry-base-delay", "0.01", "--timeout", "2", *extra)


def _rows(registry_dir, sql):
    with Registry.open(registry_dir, read_only=True) as reg:
        return reg.rows(sql)


def test_answers_become_teacher_conversations_linked_to_calls(cli, fake_openai, prompts_file, registry_dir):
    prompts = prompts_file([f"question {i}" for i in range(5)])
    result = _answer(cli, fake_openai, prompts, "--samples", "2", "--system", "Be brief.", "--temperature", "0.7")
    assert result.code == 0, result
    assert "10 answered" in result.out
    calls = _rows(registry_dir, "SELECT * FROM teacher_calls ORDER BY fingerprint")
    assert len(calls) == 10 and all(c["status"] == "ok" for c in calls)
    assert {c["sample_index"] for c in calls} == {0, 1}
    assert json.loads(calls[0]["parameters"]) == {"temperature": 0.7}
    assert sum(c["prompt_tokens"] for c in calls) > 0 and all(c["cost_usd"] > 0 for c in calls if c["sample_index"] == 0)
    convs = _rows(registry_dir, """SELECT c.*, t.fingerprint FROM conversations c
                                   JOIN teacher_calls t ON t.conversation_id = c.id""")
    assert len(convs) == 10
    assert all(c["origin"] == "teacher" and c["teacher_model"] == MODEL and c["source"] == f"teacher:{MODEL}"
               for c in convs)
    first = convs[0]["messages"]
    assert [m["role"] for m in first] == ["system", "user", "assistant"] and first[0]["content"] == "Be brief."
    # Five requests with n=2, one per prompt; a re-run sends nothing.
    assert fake_openai.total_successes == 5
    again = _answer(cli, fake_openai, prompts, "--samples", "2", "--system", "Be brief.", "--temperature", "0.7")
    assert again.code == 0 and "10 already answered" in again.out
    assert fake_openai.total_successes == 5
    # Asking for more samples sends only the missing ones.
    more = _answer(cli, fake_openai, prompts, "--samples", "3", "--system", "Be brief.", "--temperature", "0.7")
    assert "5 answered" in more.out and fake_openai.total_successes == 10
    assert _rows(registry_dir, "SELECT count(*) AS n FROM occurrences")[0]["n"] == 15


def test_transient_faults_are_retried(cli, fake_openai, prompts_file, registry_dir):
    prompts = prompts_file(["alpha one", "beta two", "gamma three", "delta four", "epsilon five", "zeta six"])
    fake_openai.add_fault("429", match="alpha", times=2, retry_after=0.05)
    fake_openai.add_fault("500", match="beta", times=2)
    fake_openai.add_fault("slow", match="gamma", times=1, delay=1.5)
    fake_openai.add_fault("malformed", match="delta", times=1)
    fake_openai.add_fault("drop", match="epsilon", times=1)
    result = _answer(cli, fake_openai, prompts, "--timeout", "0.5")
    assert result.code == 0, result
    assert "6 answered" in result.out and "0 failed" in result.out
    attempts = {r["text"]: r["attempts"] for r in _rows(
        registry_dir, "SELECT json_extract_string(messages, '$[0].content') AS text, attempts FROM teacher_calls")}
    assert attempts == {"alpha one": 3, "beta two": 3, "gamma three": 2, "delta four": 2, "epsilon five": 2,
                        "zeta six": 1}
    assert fake_openai.statuses[429] == 2 and fake_openai.statuses[500] == 2


def test_retries_give_up_and_a_rerun_retries(cli, fake_openai, prompts_file, registry_dir):
    prompts = prompts_file(["flaky one", "fine two"])
    fake_openai.add_fault("500", match="flaky", times=3)
    result = _answer(cli, fake_openai, prompts, "--max-attempts", "3")
    assert "1 answered" in result.out and "1 failed" in result.out and "gave up after 3 attempts" in result.out
    again = _answer(cli, fake_openai, prompts, "--max-attempts", "3")
    assert "1 answered" in again.out and "1 already answered" in again.out
    rows = _rows(registry_dir, "SELECT status FROM teacher_calls ORDER BY created_at")
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]


def test_errors_that_cannot_succeed_are_recorded_and_truncation_is_marked(cli, fake_openai, prompts_file,
                                                                          registry_dir):
    prompts = prompts_file(["too long prompt", "cut answer", "normal one"])
    fake_openai.add_fault("context_length", match="too long", times=-1)
    fake_openai.add_fault("truncated", match="cut", times=-1)
    result = _answer(cli, fake_openai, prompts)
    assert result.code == 0
    assert "2 answered (1 truncated), 1 failed" in result.out
    assert "context_length_exceeded" in result.out  # the summary says why
    rows = {r["status"]: r for r in _rows(registry_dir, "SELECT * FROM teacher_calls")}
    assert rows["failed"]["attempts"] == 1 and rows["failed"]["http_status"] == 400
    assert rows["truncated"]["finish_reason"] == "length" and rows["truncated"]["truncated"]
    meta = _rows(registry_dir, f"SELECT metadata FROM conversations WHERE id = '{rows['truncated']['conversation_id']}'")
    assert json.loads(meta[0]["metadata"])["truncated"] is True


def test_refused_key_stops_the_run_and_no_key_is_stored(cli, prompts_file, registry_dir, monkeypatch):
    from fake_openai import FakeOpenAI

    secret = "sk-test-" + "7f3a9c" * 6
    prompts = prompts_file([f"q {i}" for i in range(20)])
    with FakeOpenAI(api_key=secret) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-000000")
        refused = _answer(cli, server, prompts, "--concurrency", "1")
        assert refused.code == 1 and "refused the key" in refused.err
        assert server.requests == 1  # nothing more was sent after a 401
        monkeypatch.setenv("MY_TEACHER_KEY", secret)
        ok = _answer(cli, server, prompts, "--api-key-env", "MY_TEACHER_KEY", "--config", _config(prompts))
        assert ok.code == 0 and "20 answered" in ok.out, ok
        assert f"Bearer {secret}" in server.seen_auth
    status = _rows(registry_dir, "SELECT status FROM runs WHERE command = 'teacher answer' ORDER BY started_at")
    assert [s["status"] for s in status] == ["failed", "ok"]
    for path in registry_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert secret.encode() not in data and b"7f3a9c7f3a9c" not in data, path


def _config(prompts) -> str:
    path = prompts.parent / "answer.yaml"
    path.write_text("concurrency: 4\nmax_tokens: 64\n")
    return str(path)


def test_config_rejects_unknown_keys(cli, fake_openai, prompts_file):
    prompts = prompts_file(["x"])
    bad = prompts.parent / "bad.yaml"
    bad.write_text("concurency: 4\n")
    result = _answer(cli, fake_openai, prompts, "--config", str(bad))
    assert result.code == 1 and "unknown key(s) concurency" in result.err and "concurrency" in result.err


def test_dry_run_estimates_and_sends_nothing(cli, fake_openai, prompts_file, registry_dir):
    prompts = prompts_file(["a" * 400, "b" * 400])  # 100 tokens each, plus chat overhead
    result = _answer(cli, fake_openai, prompts, "--max-tokens", "100", "--samples", "3", "--dry-run")
    assert result.code == 0, result
    assert "2 request(s) for 6 sample(s)" in result.out
    assert "prompt tokens (estimated, ~4 chars/token): 214" in result.out
    assert "answer tokens at most: 600" in result.out
    # gpt-4o-mini: $0.15 / $0.60 per million tokens
    assert "at most $0.000392" in result.out
    assert fake_openai.requests == 0
    assert _rows(registry_dir, "SELECT count(*) AS n FROM teacher_calls")[0]["n"] == 0
    batch = _answer(cli, fake_openai, prompts, "--max-tokens", "100", "--dry-run", "--batch")
    assert "(Batch API)" in batch.out and "at most $0.000076" in batch.out


def test_budget_stops_cleanly_and_a_rerun_continues(cli, fake_openai, prompts_file, registry_dir, tmp_path):
    prices = tmp_path / "prices.yaml"
    prices.write_text("models:\n  pricey: {input: 1000.0, output: 1000.0}\n")
    prompts = prompts_file([f"budget question {i}" for i in range(10)])
    args = ["--prices", str(prices), "--max-tokens", "10", "--concurrency", "1", "--budget-usd", "0.1"]
    # Each request: ~13 prompt tokens + at most 10 answer tokens at $1000/M = at most ~$0.023.
    first = cli("teacher", "answer", "--prompts", prompts, "--model", "pricey", "--base-url", fake_openai.base_url, *args)
    assert first.code == 0, first
    assert "budget reached" in first.out and "re-run to continue" in first.out
    spent = _rows(registry_dir, "SELECT count(*) AS n, sum(cost_usd) AS usd FROM teacher_calls")[0]
    assert 3 <= spent["n"] < 10 and spent["usd"] <= 0.1
    for _ in range(4):
        cli("teacher", "answer", "--prompts", prompts, "--model", "pricey", "--base-url", fake_openai.base_url, *args)
    assert _rows(registry_dir, "SELECT count(*) AS n FROM teacher_calls WHERE answered")[0]["n"] == 10
    assert set(fake_openai.successes.values()) == {1}
    unknown = cli("teacher", "answer", "--prompts", prompts, "--model", "mystery-model", "--base-url",
                  fake_openai.base_url, "--budget-usd", "1")
    assert unknown.code == 1 and "needs a price for 'mystery-model'" in unknown.err


def test_prompt_sources(cli, fake_openai, tmp_path, registry_dir, prompts_file):
    lines = tmp_path / "plain.txt"
    lines.write_text("first plain prompt\n\nsecond plain prompt\n")
    assert "2 answered" in _answer(cli, fake_openai, lines).out
    questions = prompts_file(["what is up"], name="q.jsonl", field="question")
    assert "1 answered" in _answer(cli, fake_openai, questions, "--source", "mine").out
    # A registry source: its conversations' first user turns (here the answers just stored).
    result = _answer(cli, fake_openai, "mine", "--model", "other-model")
    assert result.code == 0 and "1 answered" in result.out
    via_sql = _answer(cli, fake_openai, "sql:SELECT 'from sql ' || i FROM range(3) t(i)")
    assert "3 answered" in via_sql.out
    assert "from sql 2" in fake_openai.prompts
    refused = _answer(cli, fake_openai, "sql:DELETE FROM t_teacher_call")
    assert refused.code == 1 and "read-only" in refused.err
    missing = _answer(cli, fake_openai, "no-such-thing")
    assert missing.code == 1 and "not a file, a registry source" in missing.err


def test_rate_limiter_spaces_requests():
    import asyncio
    import time

    from imitkit.collectors.teacher.limits import RateLimiter

    async def go() -> float:
        limiter = RateLimiter(rpm=1200, tpm=None)  # 20 per second, bursts of at most 20
        start = time.monotonic()
        await asyncio.gather(*(limiter.acquire(1) for _ in range(40)))
        return time.monotonic() - start

    assert 0.9 <= asyncio.run(go()) < 2.0

    async def tokens() -> float:
        limiter = RateLimiter(rpm=None, tpm=60_000)  # 1000 tokens per second
        start = time.monotonic()
        for _ in range(4):
            await limiter.acquire(500)
        return time.monotonic() - start

    assert 0.9 <= asyncio.run(tokens()) < 1.8
