"""Snapshots on disk: layout, verify and tampering, diff, export, the dataset card, the dry-run folder."""

from __future__ import annotations

import json
import os
import stat

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from snapshots.conftest import three

COLUMNS = ["id", "messages", "source", "origin", "teacher_model", "component", "n_tokens", "n_trainable_tokens"]


@pytest.fixture
def snap(mixreg, cli, registry_dir):
    """Snapshot ``m`` (20k trainable tokens, 20% eval) of the three-source registry; returns its folder."""
    mixreg.close()
    r = cli("mix", "m", *three("20k"), "--eval-fraction", "0.2")
    assert r.code == 0, r
    return registry_dir / "snapshots" / "m"


def registry_messages(registry_dir, ids):
    from imitkit.registry.store import Registry

    with Registry.open(registry_dir, read_only=True) as reg:
        rows = reg.con.execute("SELECT id, messages FROM conversations WHERE id IN (SELECT unnest(?))", [ids]).fetchall()
    return {i: [{"role": m["role"], "content": m["content"]} for m in msgs] for i, msgs in rows}


def test_layout_follows_the_architecture(snap):
    assert sorted(p.name for p in snap.iterdir()) == ["README.md", "eval.parquet", "manifest.json", "train.parquet"]
    assert all(not p.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) for p in snap.iterdir())
    table = pq.read_table(snap / "train.parquet")
    assert table.column_names == COLUMNS
    assert table.schema.field("messages").type == pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    doc = json.loads((snap / "manifest.json").read_text())
    for key in ("name", "fingerprint", "spec", "seed", "tokenizer", "chat_template", "token_counts_exact", "splits",
                "components", "sources", "curation", "contamination", "code_version", "created_at"):
        assert key in doc
    assert doc["splits"]["train"]["conversations"] == table.num_rows and doc["token_counts_exact"] is False
    assert doc["splits"]["train"]["trainable_tokens"] + doc["splits"]["eval"]["trainable_tokens"] == sum(
        c["tokens"] for c in doc["components"])
    assert {s["name"]: s["license"] for s in doc["sources"]} == {"alpha": "apache-2.0", "beta": "apache-2.0",
                                                                "zh": "apache-2.0"}
    assert doc["curation"]["status"] == "not curated" and doc["contamination"]["status"] == "not curated"


def test_tool_calls_appear_only_when_a_member_has_them(registry, cli, registry_dir):
    from imitkit.registry.records import Conversation, message
    from imitkit.registry.runs import recorded_run
    from imitkit.registry.writer import ConversationWriter

    call = json.dumps([{"type": "function", "function": {"name": "f", "arguments": "{}"}}])
    with recorded_run(registry, "test", {}) as run:
        writer = ConversationWriter(registry, run, "tools")
        writer.add(Conversation([message("user", "call f"), message("assistant", "", call),
                                 message("tool", "42"), message("assistant", "it is 42")]), "t.jsonl", 0)
        writer.flush()
    registry.close()
    assert cli("mix", "tools", "--budget", "all", "--component", "t=1:TRUE").code == 0
    row = pq.read_table(registry_dir / "snapshots" / "tools" / "train.parquet").to_pylist()[0]
    assert row["messages"][1]["tool_calls"] == call and row["messages"][0]["tool_calls"] is None


def test_verify_detects_tampering(snap, cli):
    assert cli("snapshot", "verify", "m").out.strip() == "snapshot m is intact"
    train = snap / "train.parquet"
    table = pq.read_table(train)
    os.chmod(train, 0o644)
    pq.write_table(table.slice(1), train)  # one member removed
    r = cli("snapshot", "verify", "m")
    assert r.code == 1 and "train.parquet changed" in r.out and "0 added, 1 removed" in r.out
    assert "fingerprint recomputed" in r.out and "has changed" in r.err
    os.chmod(snap / "manifest.json", 0o644)
    doc = json.loads((snap / "manifest.json").read_text())
    doc["seed"] = 99
    (snap / "manifest.json").write_text(json.dumps(doc))
    assert "manifest.json differs from the registry's record (keys: seed)" in cli("snapshot", "verify", "m").out
    assert "fails verification" in cli("snapshot", "export", "m", "--out", snap.parent / "x").err


def test_diff_reports_members_and_token_deltas_by_source(snap, cli):
    assert cli("mix", "bigger", *three("30k"), "--eval-fraction", "0.2").code == 0
    d = json.loads(cli("snapshot", "diff", "m", "bigger", "--json").out)
    assert d["removed"] == 0 and d["added"] > 0 and d["moved_split"] == 0
    assert d["tokens_delta"] == d["tokens_b"] - d["tokens_a"] > 0
    assert sum(s["tokens_delta"] for s in d["by_source"]) == d["tokens_delta"]
    assert {s["source"] for s in d["by_source"]} == {"alpha", "beta", "zh"}
    assert cli("snapshot", "diff", "bigger", "m", "--json").code == 0
    assert "+0 added" in cli("snapshot", "diff", "m", "m").out


def test_export_formats(snap, cli, tmp_path):
    from datasets import load_from_disk

    train = pq.read_table(snap / "train.parquet").to_pylist()
    for fmt in ("parquet", "jsonl", "hf"):
        r = cli("snapshot", "export", "m", "--format", fmt, "--out", tmp_path / fmt)
        assert r.code == 0, r
    assert pq.read_table(tmp_path / "parquet" / "train.parquet").to_pylist() == train
    lines = (tmp_path / "jsonl" / "train.jsonl").read_text().splitlines()
    assert [json.loads(line)["messages"] for line in lines] == [x["messages"] for x in train]
    data = load_from_disk(str(tmp_path / "hf"))
    assert set(data) == {"train", "eval"} and data["train"]["messages"] == [x["messages"] for x in train]
    assert "not an empty folder" in cli("snapshot", "export", "m", "--out", tmp_path / "hf").err


def test_card_has_valid_metadata_and_says_what_an_honest_card_says(snap):
    from huggingface_hub import DatasetCard

    text = (snap / "README.md").read_text()
    meta = yaml.safe_load(text.split("---")[1])
    assert meta["license"] == "apache-2.0" and meta["task_categories"] == ["text-generation"]
    assert meta["size_categories"] == ["n<1K"]
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "train.parquet"},
                                                {"split": "eval", "path": "eval.parquet"}]
    card = DatasetCard.load(snap / "README.md")
    assert card.data.license == "apache-2.0"
    for needle in ("copies style more than knowledge", "terms of use",
                   "Token counts are approximate", "| alpha | apache-2.0 |", "gpt-3.5-turbo", "Not curated",
                   "load_dataset(", "| unknown |"):
        assert needle in card.text, needle


def test_mixed_licenses_become_other_with_details():
    from imitkit.cards.dataset import hub_license, size_category

    assert hub_license(["MIT", "mit"]) == "mit" and hub_license(["MIT", "CC-BY-NC-4.0"]) == "other"
    assert hub_license(["research-use"]) == "other" and hub_license([None]) == "unknown"
    assert size_category(999) == "n<1K" and size_category(1_000_000) == "1M<n<10M"


def test_dry_run_folder_loads_through_datasets_with_messages_intact(snap, cli, registry_dir, tmp_path):
    from datasets import load_dataset

    out = tmp_path / "upload"
    r = cli("publish", "m", "--repo", "org/imitation-m", "--dry-run", out)
    assert r.code == 0, r
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "eval.parquet", "manifest.json", "train.parquet"]
    assert 'load_dataset("org/imitation-m")' in (out / "README.md").read_text()
    data = load_dataset(str(out))
    assert set(data) == {"train", "eval"}
    rows = data["train"].to_list() + data["eval"].to_list()
    expected = registry_messages(registry_dir, [x["id"] for x in rows])
    assert all(x["messages"] == expected[x["id"]] for x in rows)
    assert data["train"].features["messages"].feature["role"].dtype == "string"
