"""`imitkit sweep`: nested snapshots, fine-tunes and evals of a tiny model, a report, and resume."""

import json
from pathlib import Path

import pytest
import yaml

from imitkit.registry.store import Registry

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"


def _spec(tmp_path: Path, base: Path, **extra) -> Path:
    spec = {
        "name": "t", "base_models": [str(base)], "budgets": ["3k", "1k"],
        "mixture": {"components": {"all": "1.0:origin = 'teacher'"}, "seed": 0, "eval_fraction": 0.2},
        "finetune": {"max_steps": 2, "per_device_train_batch_size": 2, "max_length": 512, "logging_steps": 1},
        "eval": {"tasks": ["nq", "heldout"], "limit": 3, "max_new_tokens": 8,
                 "data": {"nq": str(SAMPLES / "nq_open.dev.sample.jsonl")}},
        **extra,
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    from imitkit.finetune.tiny import build_tiny_llama

    texts = [t["value"] for r in json.loads((SAMPLES / "fastchat_dummy_conversation.sample.json").read_text())
             for t in r["conversations"]]
    folder = tmp_path_factory.mktemp("base") / "tiny"
    build_tiny_llama(folder, texts, vocab_size=512, hidden_size=32)
    return folder


@pytest.mark.slow
def test_sweep_runs_every_step_then_resumes_without_redoing(cli, registry_dir, tmp_path, tiny_base):
    assert cli("import", "sharegpt", SAMPLES / "fastchat_dummy_conversation.sample.json", "--source", "fc").code == 0
    spec = _spec(tmp_path, tiny_base)
    plan = cli("sweep", "--spec", spec, "--dry-run")
    assert plan.code == 0 and plan.out.count("[todo]") == 2 + 2 + 3  # snapshots, fine-tunes, evals
    first = cli("sweep", "--spec", spec)
    assert first.code == 0, first
    out = registry_dir / "sweeps" / "t"
    with Registry.open(registry_dir, read_only=True) as reg:
        models = reg.rows("SELECT model_dir, snapshot, trainable_tokens_seen FROM models ORDER BY snapshot")
        evals = reg.rows("SELECT model, task FROM eval_latest WHERE metric IN ('exact_match', 'loss') ORDER BY 1, 2")
        runs_before = reg.scalar("SELECT count(*) FROM runs")
    assert [m["snapshot"] for m in models] == ["t-1k", "t-3k"]
    assert {e["model"] for e in evals} == {"tiny", "t/tiny@1k", "t/tiny@3k"}
    assert len(evals) == 6
    # Budgets nest: the 1k snapshot's conversations are all in the 3k one.
    import pyarrow.parquet as pq
    ids = {b: {i for s in ("train", "eval") for i in pq.read_table(
        registry_dir / "snapshots" / f"t-{b}" / f"{s}.parquet", columns=["id"]).column("id").to_pylist()}
        for b in ("1k", "3k")}
    assert ids["1k"] < ids["3k"]
    report = json.loads((out / "report.json").read_text())["tiny"]
    assert report["base"] == "tiny" and set(report["models"]) == {"tiny", "t/tiny@1k", "t/tiny@3k"}
    assert (out / "tiny-metric_vs_tokens.png").stat().st_size > 1000
    assert "| t/tiny@3k |" in (out / "report.md").read_text()

    again = cli("sweep", "--spec", spec)
    assert again.code == 0 and again.out.count("[done]") == 7 and "[run]" not in again.out
    with Registry.open(registry_dir, read_only=True) as reg:
        assert reg.scalar("SELECT count(*) FROM runs") == runs_before  # nothing was redone


def test_bad_specs_are_one_line_errors(cli, tmp_path):
    base = tmp_path / "base"
    for extra, message in [({"epochs": 3}, "unknown key(s) epochs"),
                           ({"budgets": ["1k", "1k"]}, "budgets repeat"),
                           ({"budgets": ["lots"]}, "not like 300k"),
                           ({"eval": {"tasks": ["heldout"], "speed": 1}}, "unknown key(s) speed in")]:
        result = cli("sweep", "--spec", _spec(tmp_path, base, **extra), "--dry-run")
        assert result.code == 1 and message in result.err and result.err.count("\n") == 1, (extra, result)
    spec = yaml.safe_load(_spec(tmp_path, base).read_text())
    spec["mixture"]["eval_fraction"] = 0
    (tmp_path / "noheld.yaml").write_text(yaml.safe_dump(spec))
    result = cli("sweep", "--spec", tmp_path / "noheld.yaml", "--dry-run")
    assert result.code == 1 and "need a held-out split" in result.err
