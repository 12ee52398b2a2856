"""``eval report``: the table, gap closed from stored results, lineage from a models view, the plot."""

from __future__ import annotations

import json

import pytest

from imitkit.eval.store import has_relation, lineage, save_result
from imitkit.eval.tasks import TaskResult
from imitkit.registry.runs import recorded_run

RESULTS = {  # model -> (trainable tokens, nq exact match, mmlu accuracy)
    "llama-base": (None, 0.20, 0.40),
    "imit-small": (1_000_000, 0.19, 0.41),
    "imit-large": (50_000_000, 0.21, 0.44),
    "openai:gpt-3.5-turbo": (None, 0.40, 0.70),
}


def add_model(registry, model_dir, snapshot, base):
    """A fine-tuned model's lineage row, through migration 0007 when present, else a bare models table."""
    if has_relation(registry, "t_model"):
        registry.con.execute(
            "INSERT INTO t_model (model_dir, snapshot, snapshot_fingerprint, snapshot_split, base_model, adapter, "
            "run_id, config, trainable_tokens_seen, global_step, created_at) "
            "VALUES (?, ?, ?, 'train', ?, FALSE, 'r:x', '{}', 0, 0, now())", [model_dir, snapshot, f"fp-{snapshot}", base])
    else:
        registry.con.execute("CREATE TABLE IF NOT EXISTS models (model_dir VARCHAR, snapshot VARCHAR, "
                             "snapshot_fingerprint VARCHAR, base_model VARCHAR)")
        registry.con.execute("INSERT INTO models VALUES (?, ?, ?, ?)", [model_dir, snapshot, f"fp-{snapshot}", base])


@pytest.fixture
def stored(registry, tmp_path):
    with recorded_run(registry, "eval run", {}) as run:
        for model, (tokens, em, acc) in RESULTS.items():
            if tokens:
                add_model(registry, str(tmp_path / model), f"snap-{tokens}", "llama-base")
            info = lineage(registry, str(tmp_path / model) if tokens else None, None)
            info["trainable_tokens"] = tokens  # the snapshot itself is not on disk in this test
            for task, metrics in (("nq", {"exact_match": em, "f1": em}), ("mmlu", {"accuracy": acc})):
                save_result(registry, run, model, model, "local", info, TaskResult(task, metrics, 10, {}, []))
    registry.close()


def test_lineage_comes_from_the_models_view_when_there_is_one(registry, tmp_path):
    add_model(registry, str(tmp_path / "m"), "s1", "base")
    info = lineage(registry, str(tmp_path / "m"), None)
    assert (info["snapshot"], info["snapshot_fingerprint"], info["base_model"]) == ("s1", "fp-s1", "base")
    assert lineage(registry, str(tmp_path / "other"), None)["base_model"] is None
    if has_relation(registry, "models"):
        registry.con.execute("DROP VIEW IF EXISTS models")
        registry.con.execute("DROP TABLE IF EXISTS models")
    assert lineage(registry, str(tmp_path / "m"), "s2")["snapshot"] == "s2"  # no view: still works


def test_report_table_and_gap_closed(cli, stored):
    result = cli("eval", "report", "--teacher", "openai:gpt-3.5-turbo", "--json")
    assert result.code == 0, result
    doc = json.loads(result.out)
    assert doc["base"] == "llama-base"  # inferred from lineage
    gaps = {(g["model"], g["task"]): g["gap_closed"] for g in doc["gap_closed"]}
    assert gaps[("imit-large", "nq")] == pytest.approx(0.05)
    assert gaps[("imit-small", "nq")] == pytest.approx(-0.05)
    assert gaps[("imit-large", "mmlu")] == pytest.approx(0.04 / 0.30)
    assert doc["lineage"]["imit-large"]["trainable_tokens"] == 50_000_000
    table = cli("eval", "report", "--teacher", "openai:gpt-3.5-turbo", "--models", "imit-large")
    assert table.code == 0 and "imit-large" in table.out and "imit-small" not in table.out
    assert "Gap closed" in table.out and "13.3%" in table.out


def test_report_plot_of_metric_vs_trainable_tokens(cli, stored, tmp_path):
    out = tmp_path / "gap.png"
    result = cli("eval", "report", "--base", "llama-base", "--teacher", "openai:gpt-3.5-turbo", "--plot", out)
    assert result.code == 0, result
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = cli("eval", "report", "--models", "imit-large", "--plot", tmp_path / "x.png")
    assert bad.code == 1 and "at least two snapshots" in bad.err


def test_report_errors(cli, stored):
    result = cli("eval", "report", "--teacher", "nobody")
    assert result.code == 1 and "'nobody' has no stored results" in result.err
