"""Token-budgeted mixtures: filling shares, determinism, shortfalls, repeats, eval splits, bad specs."""

from __future__ import annotations

import json
import subprocess

import pyarrow.parquet as pq
import pytest

from snapshots.conftest import three
from snapshots.helpers import populate


def members(registry_dir, name, split="train"):
    path = registry_dir / "snapshots" / name / f"{split}.parquet"
    return pq.read_table(path).to_pylist() if path.exists() else []


def manifest(registry_dir, name):
    return json.loads((registry_dir / "snapshots" / name / "manifest.json").read_text())


def approx_trainable(registry, source):
    from imitkit.registry.tokens import approx_query, approx_tokens_sql

    _, trainable = approx_tokens_sql()
    return registry.con.execute(f"SELECT {trainable} FROM ({approx_query('source = ?')})", [source]).fetchall()


def test_each_component_fills_its_share_within_one_conversation(mixreg, cli, registry_dir):
    largest = {s: max(r[0] for r in approx_trainable(mixreg, s)) for s in ("alpha", "beta", "zh")}
    mixreg.close()
    r = cli("mix", "m", *three("20k"), "--json")
    assert r.code == 0, r
    result = json.loads(r.out)
    rows = members(registry_dir, "m")
    for comp, source, weight in (("a", "alpha", 0.5), ("b", "beta", 0.3), ("z", "zh", 0.2)):
        got = next(c for c in result["components"] if c["label"] == comp)
        assert got["share"] == round(20_000 * weight)
        # The crossing conversation is kept only when that lands closer: within half a conversation.
        assert abs(got["tokens"] - got["share"]) <= largest[source] / 2
        assert got["shortfall"] == 0
        picked = [x for x in rows if x["component"] == comp]
        assert {x["source"] for x in picked} == {source}
        assert sum(x["n_trainable_tokens"] for x in picked) == got["tokens"] == got["trainable_tokens"]
    assert len({x["id"] for x in rows}) == len(rows)  # never a repeat without --allow-upsample
    assert "APPROXIMATE" in cli("mix", "m", *three("20k")).err + cli("mix", "m", *three("20k")).out


def test_same_spec_and_seed_give_the_same_fingerprint_across_processes(mixreg, cli, registry_dir, imitkit_exe):
    mixreg.close()
    first = json.loads(cli("mix", "one", *three("15k"), "--seed", "7", "--json").out)
    again = json.loads(cli("mix", "two", *three("15k"), "--seed", "7", "--json").out)
    other = json.loads(cli("mix", "three", *three("15k"), "--seed", "8", "--json").out)
    assert first["fingerprint"] == again["fingerprint"] != other["fingerprint"]
    assert [x["id"] for x in members(registry_dir, "one")] == [x["id"] for x in members(registry_dir, "two")]
    proc = subprocess.run([*imitkit_exe, "--registry", str(registry_dir), "mix", "four", *three("15k"),
                           "--seed", "7", "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["fingerprint"] == first["fingerprint"]


def test_shortfall_is_reported_and_upsampling_fills_it(mixreg, cli, registry_dir):
    available = sum(r[0] for r in approx_trainable(mixreg, "zh"))
    mixreg.close()
    spec = ["--component", "a=0.5:source = 'alpha'", "--component", "z=0.5:source = 'zh'"]
    budget = str(int(available * 3))
    r = cli("mix", "short", "--budget", budget, *spec, "--json")
    z = next(c for c in json.loads(r.out)["components"] if c["label"] == "z")
    assert z["tokens"] == available and z["shortfall"] == z["share"] - available > 0
    assert z["unique_conversations"] == z["matched"] == 120 and z["repeats"] == 1
    text = cli("mix", "short", "--budget", budget, *spec).err
    assert f"short by {z['shortfall']:,}" in text

    r = cli("mix", "up", "--budget", budget, *spec, "--allow-upsample", "--json")
    z = next(c for c in json.loads(r.out)["components"] if c["label"] == "z")
    assert z["repeats"] == 2 and z["shortfall"] == 0 and abs(z["tokens"] - z["share"]) < 400
    ids = [x["id"] for x in members(registry_dir, "up") if x["component"] == "z"]
    assert len(ids) > len(set(ids)) == 120


def test_eval_split_is_stable_as_the_budget_grows_and_keeps_records_together(mixreg, cli, registry_dir):
    records = dict(mixreg.con.execute("SELECT conversation_id, file || record_index FROM occurrences").fetchall())
    mixreg.close()
    for name, budget in (("small", "10k"), ("big", "30k")):
        assert cli("mix", name, *three(budget), "--eval-fraction", "0.25").code == 0
    small = {s: {x["id"] for x in members(registry_dir, "small", s)} for s in ("train", "eval")}
    big = {s: {x["id"] for x in members(registry_dir, "big", s)} for s in ("train", "eval")}
    assert small["eval"] and small["train"]
    assert small["train"] <= big["train"] and small["eval"] <= big["eval"]
    assert 0.1 < len(big["eval"]) / (len(big["eval"]) + len(big["train"])) < 0.4
    split_of_record = {}
    for split in ("train", "eval"):
        for cid in big[split]:
            assert split_of_record.setdefault(records[cid], split) == split  # parts of a record never split


@pytest.mark.parametrize("args,message", [
    (["--budget", "10k", "--component", "a=0.6:TRUE", "--component", "b=0.6:TRUE"], "sum to 1"),
    (["--budget", "10k", "--component", "a=1:sourc = 'alpha'"], "bad SQL clause"),
    (["--budget", "10k", "--component", "a=1:TRUE; DROP TABLE t_run"], "bad SQL clause"),
    (["--budget", "10k", "--component", "a=1:source = 'nowhere'"], "matches no kept conversations"),
    (["--budget", "lots", "--component", "a=1:TRUE"], "budget"),
    (["--component", "a=1:TRUE"], "budget is required"),
])
def test_bad_specs_fail_before_anything_is_written(mixreg, cli, registry_dir, args, message):
    mixreg.close()
    before = cli("sql", "SELECT count(*) AS n FROM runs", "--json").out
    r = cli("mix", "bad", *args)
    assert r.code == 1 and r.err.startswith("Error: ") and message in r.err, r
    assert "Traceback" not in r.err
    assert cli("sql", "SELECT count(*) AS n FROM runs", "--json").out == before
    assert not (registry_dir / "snapshots" / "bad").exists()


def test_a_name_is_bound_to_one_fingerprint(mixreg, cli, registry_dir):
    assert cli("mix", "fixed", *three("10k")).code == 0
    fingerprint = manifest(registry_dir, "fixed")["fingerprint"]
    r = cli("mix", "fixed", *three("10k"))
    assert r.code == 0 and "unchanged" in r.out
    populate(mixreg, {"alpha": 50}, seed=9, start=5000)  # new data: the same spec now selects differently
    mixreg.close()
    r = cli("mix", "fixed", *three("10k"))
    assert r.code == 1 and "already exists" in r.err and "immutable" in r.err
    assert manifest(registry_dir, "fixed")["fingerprint"] == fingerprint


def test_budget_all_takes_everything_that_matches(mixreg, cli, registry_dir):
    mixreg.close()
    r = cli("mix", "everything", "--budget", "all", "--component", "a=1:source = 'alpha'",
            "--component", "z=1:source = 'zh' OR source = 'alpha'", "--json")
    assert r.code == 0, r
    comps = {c["label"]: c for c in json.loads(r.out)["components"]}
    assert comps["a"]["conversations"] == 300 and comps["z"]["conversations"] == 120  # alpha went to the first
    assert comps["a"]["share"] is None and comps["a"]["shortfall"] == 0


def _curate(registry, dropped: list[str], contaminated: list[str]):
    """Verdicts as the curation stage records them (its tables from migration 0003)."""
    con = registry.con
    con.execute("INSERT INTO t_curation_pipeline VALUES ('exact_dedup', 1, 'f1', '{\"key\": \"messages\"}', now()), "
                "('decontaminate', 2, 'f2', '{\"n\": 13}', now())")
    for step, ids, reason in (("exact_dedup", dropped, "duplicate"), ("decontaminate", contaminated, "13-gram overlap")):
        for cid in ids:
            con.execute("INSERT INTO t_verdict VALUES ('r:test', ?, ?, FALSE, ?, '{\"evalset\": \"nq\"}', 'f', 0, now())",
                        [step, cid, reason])


def test_only_kept_conversations_and_the_curation_record(mixreg, cli, registry_dir):
    ids = [r[0] for r in mixreg.con.execute("SELECT id FROM conversations WHERE source = 'zh' ORDER BY id").fetchall()]
    _curate(mixreg, ids[:10], ids[10:13])
    mixreg.close()
    spec = ["--budget", "all", "--component", "z=1:source = 'zh'"]
    assert cli("mix", "kept", *spec).code == 0
    assert {x["id"] for x in members(registry_dir, "kept")} == set(ids[13:])
    doc = manifest(registry_dir, "kept")
    steps = {s["step"]: s for s in doc["curation"]["steps"]}
    assert doc["curation"]["status"] == "curated" and steps["exact_dedup"]["dropped"] == 10
    assert steps["exact_dedup"]["parameters"] == {"key": "messages"}
    assert steps["decontaminate"]["top_reasons"] == {"13-gram overlap": 3}
    assert doc["contamination"]["flagged"] == 3 and doc["contamination"]["flagged_members"] == 0
    assert cli("mix", "all-of-it", *spec, "--include-dropped").code == 0
    assert manifest(registry_dir, "all-of-it")["contamination"]["flagged_members"] == 3
