"""Crash safety (kill -9 mid-run) and the Batch API with a restart in the middle."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from imitkit.registry.store import Registry


def _rows(registry_dir, sql):
    with Registry.open(registry_dir, read_only=True) as reg:
        return reg.rows(sql)


def _worker_processes(pid: int) -> list:
    import psutil

    return [p for p in psutil.Process(pid).children(recursive=True) if "spawn_main" in " ".join(p.cmdline())]


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_kill_9_mid_run_then_rerun_answers_each_prompt_exactly_once(fake_openai, prompts_file, registry_dir,
                                                                     imitkit_exe, tmp_path, workers):
    texts = [f"crash question {i}" for i in range(40)]
    prompts = prompts_file(texts)
    fake_openai.latency = 0.01
    fake_openai.stall_after = 20  # later requests hang: they are in flight when the process dies
    command = imitkit_exe + ["--registry", str(registry_dir), "teacher", "answer", "--prompts", str(prompts),
                             "--model", "gpt-4o-mini", "--base-url", fake_openai.base_url, "--concurrency", "4",
                             "--workers", str(workers), "--commit-rows", "1000", "--commit-seconds", "60"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 30
    while fake_openai.total_successes < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # answers that arrived are journaled within microseconds; give it ample time
    senders = _worker_processes(first.pid)
    assert len(senders) == (workers if workers > 1 else 0)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    import psutil

    _, alive = psutil.wait_procs(senders, timeout=5)  # orphaned workers notice and exit on their own
    assert not alive
    assert fake_openai.total_successes == 20
    committed = _rows(registry_dir, "SELECT count(*) AS n FROM teacher_calls")[0]["n"]
    assert committed == 0  # the 20 answers received exist only in the journal
    fake_openai.stall_after = None
    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert second.returncode == 0, second.stderr
    assert "20 answered" in second.stdout and "20 already answered" in second.stdout
    assert sorted(fake_openai.prompts) == sorted(texts) and set(fake_openai.prompts.values()) == {1}
    assert set(fake_openai.successes.values()) == {1}
    runs = _rows(registry_dir, "SELECT status, counts FROM runs ORDER BY started_at")
    assert [r["status"] for r in runs] == ["interrupted", "ok"]
    assert json.loads(runs[1]["counts"])["recovered"] == 20
    assert _rows(registry_dir, "SELECT count(*) AS n FROM conversations WHERE origin = 'teacher'")[0]["n"] == 40
    assert not list((registry_dir / "teacher-journal").glob("*.jsonl"))


def test_batch_mode_end_to_end_with_a_restart(cli, fake_openai, prompts_file, registry_dir):
    fake_openai.batch_polls = 3
    texts = [f"batch question {i}" for i in range(12)]
    prompts = prompts_file(texts)
    fake_openai.add_fault("truncated", match="question 3", times=1)
    fake_openai.add_fault("context_length", match="question 7", times=1)
    args = ["teacher", "answer", "--prompts", prompts, "--model", "gpt-4o-mini", "--base-url", fake_openai.base_url]
    submitted = cli(*args, "--batch", "--batch-max-bytes", "700")
    assert submitted.code == 0, submitted
    batches = _rows(registry_dir, "SELECT * FROM teacher_batches ORDER BY part")
    assert len(batches) >= 3 and sum(b["n_requests"] for b in batches) == 12
    sizes = [len(fake_openai.files[b["input_file_id"]]["data"]) for b in batches]
    assert max(sizes) <= 700
    # Submitting again while they run sends nothing: those requests are already paid for.
    again = cli(*args, "--batch")
    assert again.code == 0 and len(fake_openai.batches) == len(batches)
    # "Restart": every command below is a fresh open of the registry, as after a reboot.
    status = cli("teacher", "batch", "status", "--json")
    assert status.code == 0 and {b["status"] for b in json.loads(status.out)} == {"in_progress"}
    first = cli("teacher", "batch", "collect")
    assert first.code == 0 and "still running" in first.err
    done = cli("teacher", "batch", "collect", "--wait", "--poll-seconds", "0.01")
    assert done.code == 0, done
    assert "11 answered (1 truncated), 1 failed" in done.out
    calls = _rows(registry_dir, "SELECT * FROM teacher_calls")
    assert len(calls) == 12 and all(c["mode"] == "batch" and c["batch_id"] for c in calls)
    ok = [c for c in calls if c["answered"]]
    # Batch price is half of gpt-4o-mini's $0.15 / $0.60 per million tokens.
    assert all(abs(c["cost_usd"] - (c["prompt_tokens"] * 0.075 + c["completion_tokens"] * 0.3) / 1e6) < 1e-12
               for c in ok)
    assert {b["status"] for b in json.loads(cli("teacher", "batch", "status", "--json").out)} == {"collected"}
    # Collecting again stores nothing twice; answering online sends only the failed one.
    assert cli("teacher", "batch", "collect").code == 0
    assert _rows(registry_dir, "SELECT count(*) AS n FROM teacher_calls")[0]["n"] == 12
    online = cli(*args)
    assert "1 answered" in online.out and "11 already answered" in online.out
    assert set(fake_openai.successes.values()) == {1}


def test_batch_created_but_not_recorded_is_adopted_not_paid_twice(cli, fake_openai, prompts_file, registry_dir,
                                                                  monkeypatch):
    from imitkit.collectors.teacher import batch as batch_api

    fake_openai.batch_polls = 1
    args = ["teacher", "answer", "--prompts", prompts_file([f"q{i}" for i in range(5)]), "--model", "gpt-4o-mini",
            "--base-url", fake_openai.base_url]

    def killed(*_a, **_k):
        raise RuntimeError("process killed right after the API created the batch")

    monkeypatch.setattr(batch_api, "_adopt", killed)
    with pytest.raises(RuntimeError):
        cli(*args, "--batch")
    monkeypatch.undo()
    assert len(fake_openai.batches) == 1
    assert [b["status"] for b in _rows(registry_dir, "SELECT status FROM teacher_batches")] == ["submitting"]

    again = cli(*args, "--batch")  # finds the batch by its submission key instead of creating another
    assert again.code == 0 and "1 found at the API and adopted" in again.err
    assert len(fake_openai.batches) == 1
    [batch] = _rows(registry_dir, "SELECT id, status, input_file_id FROM teacher_batches")
    assert batch["id"] in fake_openai.batches and batch["input_file_id"]
    done = cli("teacher", "batch", "collect", "--wait", "--poll-seconds", "0.01")
    assert done.code == 0 and "5 answered" in done.out
    assert sorted(fake_openai.successes.values()) == [1] * 5


def test_batch_never_created_is_abandoned_and_sent_again(cli, fake_openai, prompts_file, registry_dir):
    fake_openai.batch_polls = 1
    prompts = prompts_file([f"q{i}" for i in range(4)])
    base = ["teacher", "answer", "--prompts", prompts, "--model", "gpt-4o-mini", "--batch"]
    with pytest.raises(Exception):  # the API was unreachable: the submission never reached it
        cli(*base, "--base-url", "http://127.0.0.1:9/v1", "--timeout", "1")
    assert [b["status"] for b in _rows(registry_dir, "SELECT status FROM teacher_batches")] == ["submitting"]
    again = cli(*base, "--base-url", fake_openai.base_url, "--wait")
    assert again.code == 0 and "0 found at the API and adopted, 1 never created" in again.err
    statuses = sorted(b["status"] for b in _rows(registry_dir, "SELECT status FROM teacher_batches"))
    assert statuses == ["abandoned", "collected"] and len(fake_openai.batches) == 1
    assert sorted(fake_openai.successes.values()) == [1] * 4
