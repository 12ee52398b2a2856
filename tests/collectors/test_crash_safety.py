"""A process killed at any moment and re-run ends with exactly the state of one clean run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from imitkit.registry.store import Registry

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from synthetic import write_sharegpt_jsonl  # noqa: E402

STATE = {
    "conversations": "SELECT id, source, origin, teacher_model, md5(messages::VARCHAR), n_turns, n_chars "
                     "FROM conversations ORDER BY id",
    "occurrences": "SELECT conversation_id, source, file, record_index, part, line, record_id "
                   "FROM occurrences ORDER BY file, record_index, part",
}


def state(registry_dir):
    with Registry.open(registry_dir, read_only=True) as reg:
        return {name: reg.con.execute(sql).fetchall() for name, sql in STATE.items()}


def _bytes_on_disk(registry_dir):
    return sum(p.stat().st_size for p in registry_dir.glob("registry.duckdb*")) if registry_dir.exists() else 0


def import_cmd(registry_dir, data):
    return [sys.executable, "-m", "imitkit", "--registry", str(registry_dir), "import", "sharegpt", str(data),
            "--source", "syn", "--batch-size", "150"]


@pytest.mark.slow
@pytest.mark.parametrize("fraction", [0.35, 0.75])
def test_kill_9_mid_import_then_rerun_equals_one_clean_run(tmp_path, fraction):
    data = tmp_path / "syn.jsonl"
    write_sharegpt_jsonl(data, 8_000, seed=7, duplicate_rate=0.1)
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    subprocess.run(import_cmd(clean, data), check=True, capture_output=True)
    target = fraction * _bytes_on_disk(clean)

    # Kill once the crashed registry holds that share of the clean one's bytes (database plus
    # write-ahead log): a point inside the import, whatever the machine's speed.
    proc = subprocess.Popen(import_cmd(crashed, data), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _bytes_on_disk(crashed) < target and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "import finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = state(crashed)
    assert 0 < len(partial["conversations"]) < len(state(clean)["conversations"])  # killed mid-way

    rerun = subprocess.run(import_cmd(crashed, data), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert state(crashed) == state(clean)
    with Registry.open(crashed, read_only=True) as reg:
        statuses = sorted(r[0] for r in reg.con.execute("SELECT status FROM runs").fetchall())
        dup = reg.scalar("SELECT count(*) - count(DISTINCT id) FROM conversations")
    assert statuses == ["interrupted", "ok"] and dup == 0
