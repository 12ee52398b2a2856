"""HumanEval scoring through the sandbox: canonical solutions, empty bodies, hostile samples."""

from __future__ import annotations

import gzip
import json
import time

import pytest

from imitkit.eval.sandbox import Limits, run_program

FAST = Limits(timeout_s=3.0, memory_mb=512, nproc=32)


def _problems(shared_data):
    with gzip.open(shared_data / "humaneval" / "HumanEval.jsonl.gz", "rt") as f:
        return [json.loads(line) for line in f]


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_all_canonical_solutions_pass_and_empty_bodies_fail(cli, shared_data, tmp_path):
    problems = _problems(shared_data)
    canonical = _write(tmp_path / "canonical.jsonl",
                       [{"id": p["task_id"], "output": p["canonical_solution"]} for p in problems])
    result = cli("eval", "score", "--task", "humaneval", "--predictions", canonical, "--json")
    assert result.code == 0, result
    assert json.loads(result.out) == {"pass@1": 1.0, "n": 164}
    empty = _write(tmp_path / "empty.jsonl", [{"id": p["task_id"], "output": ""} for p in problems[:20]])
    result = cli("eval", "score", "--task", "humaneval", "--predictions", empty, "--json")
    assert json.loads(result.out) == {"pass@1": 0.0, "n": 20}


def test_several_samples_give_unbiased_pass_at_k(cli, shared_data, tmp_path):
    p = _problems(shared_data)[2]
    lines = [{"id": p["task_id"], "output": p["canonical_solution"]}] + \
            [{"id": p["task_id"], "output": "    return -1\n"}] * 3
    result = cli("eval", "score", "--task", "humaneval", "--predictions", _write(tmp_path / "s.jsonl", lines),
                 "--json")
    assert json.loads(result.out) == {"pass@1": 0.25, "n": 1}


def test_unknown_ids_are_a_one_line_error(cli, shared_data, tmp_path):
    result = cli("eval", "score", "--task", "humaneval", "--predictions",
                 _write(tmp_path / "x.jsonl", [{"id": "HumanEval/999", "output": ""}]))
    assert result.code == 1 and "HumanEval/999" in result.err and "Traceback" not in result.err


@pytest.mark.parametrize("name, source", [
    ("hang", "while True:\n    pass\n"),
    ("sleep-forever child", "import os, time\nif os.fork() == 0:\n    time.sleep(1000)\ntime.sleep(1000)\n"),
    ("fork bomb", "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"),
    ("memory hog", "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 2**20))\n"),
])
def test_hostile_samples_are_contained_within_the_timeout(name, source):
    # A low memory cap makes the hog hit RLIMIT_AS after a few blocks, even on a loaded machine.
    limits = Limits(timeout_s=FAST.timeout_s, memory_mb=384, nproc=FAST.nproc)
    start = time.monotonic()
    outcome = run_program(source, limits)
    elapsed = time.monotonic() - start
    assert not outcome.passed
    assert elapsed < limits.timeout_s + 2.0, f"{name} took {elapsed:.1f}s"
    if name == "memory hog":
        assert "MemoryError" in outcome.reason  # RLIMIT_AS stops it long before the timeout
    # the whole process group is gone: a marker pid file shows no survivor
    probe = run_program("print('still fine')", FAST)
    assert probe.passed


def test_children_left_behind_are_killed():
    # The parent exits at once, naming its sleeping child on stderr (its last line is the reason).
    source = "import os, time\npid = os.fork()\nif pid == 0:\n    time.sleep(60)\nraise SystemExit(f'child={pid}')\n"
    outcome = run_program(source, FAST)
    assert outcome.reason.startswith("child="), outcome
    assert outcome.seconds < FAST.timeout_s  # the harness did not wait for the child
    pid = int(outcome.reason.split("=")[1])
    import psutil

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # SIGKILL is delivered at once; reaping may lag on a busy machine
        try:
            alive = psutil.Process(pid)
            if alive.status() == psutil.STATUS_ZOMBIE or "program.py" not in " ".join(alive.cmdline()):
                break  # dead, or the pid was reused by an unrelated process
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"child {pid} of a finished program is still running")


def test_no_network_where_the_platform_allows(tmp_path):
    outcome = run_program("import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)\n", FAST)
    assert not outcome.passed
    if outcome.network_isolated:
        assert "unreachable" in outcome.reason.lower() or "Errno" in outcome.reason
    else:
        pytest.skip("this platform cannot make a private network namespace (documented)")
