"""Dedup, re-run and incremental semantics, the views, the config and the CLI."""

from __future__ import annotations

import json
import random

import pytest
from curation_helpers import conv, verdicts

from imitkit.curation.config import load_config
from imitkit.curation.errors import ConfigError
from imitkit.curation.minhash import shingle_hashes


def essay(rng: random.Random, n: int = 150) -> str:
    vocab = [f"t{i}" for i in range(4000)]
    return " ".join(rng.choice(vocab) for _ in range(n))


def edited(text: str, rng: random.Random, k: int) -> str:
    words = text.split()
    for i in rng.sample(range(len(words)), k):
        words[i] = "edit" + str(i)
    return " ".join(words)


def jaccard(a: str, b: str) -> float:
    x, y = set(shingle_hashes(a)), set(shingle_hashes(b))
    return len(x & y) / len(x | y)


def test_exact_dedup_keep_policies(registry, add, curate):
    a = conv("What is the capital of France?", "Paris is the capital of France.")
    spaced = conv("what is  the capital of France?", "Paris is the capital of france.")
    longer = conv("What is the capital of France?", "Paris is the capital of France.")
    ids = add([a], source="web") + add([spaced], source="gold") + add([longer + conv("And Spain?", "Madrid.")], source="web")
    curate("exact_dedup")
    v = verdicts(registry, "exact_dedup")
    assert v[ids[0]]["keep"] and (v[ids[1]]["keep"], v[ids[1]]["reason"]) == (False, "exact duplicate")
    assert v[ids[1]]["details"]["kept"] == ids[0] and v[ids[2]]["keep"]
    curate("exact_dedup", "exact_dedup.keep=source_priority", "exact_dedup.source_priority=[gold, web]")
    v = verdicts(registry, "exact_dedup")
    assert v[ids[1]]["keep"] and v[ids[0]]["details"]["kept"] == ids[1]
    curate("exact_dedup", "exact_dedup.key=first_user", "exact_dedup.keep=longest")
    v = verdicts(registry, "exact_dedup")
    assert v[ids[2]]["keep"] and not v[ids[0]]["keep"] and v[ids[0]]["details"]["size"] == 3


def test_near_dedup_known_jaccard_cluster_and_kept_member(registry, add, curate):
    rng = random.Random(2)
    base = essay(rng)
    near = edited(base, rng, 1)        # ~0.94: a candidate in all but ~1e-5 of seeds
    far = edited(base, rng, 12)        # ~0.5
    assert jaccard(base, near) >= 0.8 > 0.6 > jaccard(base, far)
    others = [essay(rng) for _ in range(20)]
    ids = add([conv("Write an essay", base), conv("Write an essay", near), conv("Write an essay", far)]
              + [conv("Write an essay", o) for o in others])
    curate("near_dedup")
    v = verdicts(registry, "near_dedup")
    assert v[ids[0]]["keep"] and v[ids[2]]["keep"] and all(v[i]["keep"] for i in ids[3:])
    d = v[ids[1]]
    assert (d["keep"], d["reason"]) == (False, "near duplicate")
    assert d["details"]["kept"] == ids[0] and d["details"]["matched"] == ids[0] and d["details"]["size"] == 2
    assert d["details"]["jaccard"] == pytest.approx(jaccard(f"user: Write an essay\n\nassistant: {base}",
                                                            f"user: Write an essay\n\nassistant: {near}"), abs=1e-3)
    # Keyed on the first user turn, all three share one prompt.
    curate("near_dedup", "near_dedup.key=first_user")
    v = verdicts(registry, "near_dedup")
    assert sum(not x["keep"] for x in v.values()) == len(ids) - 1


def test_rerun_replaces_only_that_steps_verdicts_and_keeps_raw(registry, add, curate):
    ids = add([conv("Hello   there, my friend!", "As an AI language model I say hi."),
               conv("Count to three please", "One, two, three.")])
    curate(None, pipeline="normalize,leaks")
    before = registry.rows("SELECT step, conversation_id, run_id FROM t_verdict ORDER BY ALL")
    assert not verdicts(registry, "leaks")[ids[0]]["keep"]
    curate("leaks", "leaks.phrases=[three]", pipeline="normalize,leaks")
    after = registry.rows("SELECT step, conversation_id, run_id FROM t_verdict ORDER BY ALL")
    assert [r for r in after if r["step"] == "normalize"] == [r for r in before if r["step"] == "normalize"]
    v = verdicts(registry, "leaks")
    assert v[ids[0]]["keep"] and v[ids[1]]["reason"] == "leak: three"
    raw = registry.rows("SELECT messages FROM t_conversation WHERE id = ?", [ids[0]])[0]["messages"]
    assert raw[0]["content"] == "Hello   there, my friend!"
    # Same parameters again: nothing to judge. --rerun: everything again.
    assert curate("leaks", "leaks.phrases=[three]", pipeline="normalize,leaks")["leaks"].judged == 0
    assert curate("leaks", "leaks.phrases=[three]", pipeline="normalize,leaks", rerun=True)["leaks"].judged == 2


def test_incremental_runs_judge_new_conversations_against_kept(registry, add, curate):
    rng = random.Random(9)
    texts = [essay(rng) for _ in range(6)]
    first = add([conv("Tell me", t) for t in texts])
    r1 = curate(None, pipeline="normalize,structure,exact_dedup,near_dedup")
    assert r1["near_dedup"].judged == 6
    second = add([conv("Tell me", edited(texts[0], rng, 1)), conv("tell  me", texts[1]), conv("Tell me", essay(rng))])
    r2 = curate(None, pipeline="normalize,structure,exact_dedup,near_dedup")
    assert (r2["normalize"].judged, r2["exact_dedup"].judged, r2["near_dedup"].judged) == (3, 3, 2)
    assert verdicts(registry, "exact_dedup")[second[1]]["details"]["kept"] == first[1]
    nd = verdicts(registry, "near_dedup")
    assert nd[second[0]]["details"]["kept"] == first[0] and nd[second[2]]["keep"]
    assert all(nd[i]["keep"] for i in first)
    kept = {r["id"] for r in registry.rows("SELECT id FROM conversations WHERE kept")}
    assert kept == set(first) | {second[2]}


def test_changed_upstream_text_is_rejudged_downstream(registry, add, curate):
    ids = add([conv("Say it", "<p>As an AI language model</p><p>I answer.</p>")])
    curate(None, pipeline="normalize,leaks")
    assert not verdicts(registry, "leaks")[ids[0]]["keep"]
    curate("normalize", "normalize.html_to_markdown=false", pipeline="normalize,leaks")
    assert curate("leaks", pipeline="normalize,leaks")["leaks"].judged == 1  # its input changed


def test_views_columns_kept_and_configured_steps(registry, add, curate):
    cols = [r[0] for r in registry.query("DESCRIBE conversations").fetchall()]
    assert cols == ["id", "source", "origin", "teacher_model", "messages", "n_turns", "n_chars", "lang", "kept",
                    "created_at", "metadata", "run_id", "raw_messages"]
    ids = add([conv("Who are you?", "I am ChatGPT, by OpenAI."), conv("Who are you?", "A helpful assistant.")])
    assert registry.scalar("SELECT count(*) FROM conversations WHERE kept") == 2  # nothing judged yet
    curate(None, pipeline="leaks")
    assert registry.scalar("SELECT count(*) FROM conversations WHERE kept") == 1
    assert registry.rows("SELECT decision, reason, configured FROM verdicts WHERE conversation_id = ?", [ids[0]]) == [
        {"decision": "drop", "reason": "leak: ChatGPT", "configured": True}]
    curate("structure", pipeline="structure")  # leaks no longer configured: its drops no longer count
    assert registry.scalar("SELECT count(*) FROM conversations WHERE kept") == 2


def test_config_rejects_unknown_keys_and_bad_values(tmp_path):
    with pytest.raises(ConfigError, match="valid keys: .*threshold"):
        load_config(None, ["near_dedup.treshold=0.7"])
    with pytest.raises(ConfigError, match="one of"):
        load_config(None, ["near_dedup.verify=maybe"])
    with pytest.raises(ConfigError, match="number"):
        load_config(None, ["near_dedup.threshold=high"])
    path = tmp_path / "c.yaml"
    path.write_text("steps: [normalize, laguage]\n")
    with pytest.raises(ConfigError, match="unknown step"):
        load_config(path)
    path.write_text("language:\n  keep: [en, de]\n  min_prob: 0.9\n")
    cfg = load_config(path, ["language.min_prob=0.7"])
    assert cfg.section("language").keep == ["en", "de"] and cfg.section("language").min_prob == 0.7


def test_cli_curate_report_rejects_and_print_config(cli, tmp_path):
    data = tmp_path / "chats.jsonl"
    rows = [{"conversations": [{"from": "human", "value": "Who created you?"},
                               {"from": "gpt", "value": "I was created by OpenAI as ChatGPT."}]},
            {"conversations": [{"from": "human", "value": "Explain recursion simply to a beginner, please."},
                               {"from": "gpt", "value": "Recursion is when a function calls itself on a smaller problem."}]},
            {"conversations": [{"from": "human", "value": "explain  recursion simply to a beginner, please."},
                               {"from": "gpt", "value": "Recursion is when a function calls itself on a smaller problem."}]}]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    nq = tmp_path / "nq.jsonl"
    nq.write_text(json.dumps({"question": "explain recursion simply to a beginner please", "answer": ["x"]}) + "\n")
    assert cli("import", "sharegpt", data, "--source", "demo").code == 0
    assert cli("evalset", "add", "nq", nq, "--field", "question").code == 0
    out = cli("curate", "--json")
    assert out.code == 0, out
    steps = {s["step"]: s for s in json.loads(out.out)["steps"]}
    assert steps["exact_dedup"]["dropped"] == 1 and steps["leaks"]["dropped"] == 1
    assert steps["decontaminate"]["dropped"] == 1
    report = json.loads(cli("curate", "report", "--json").out)
    assert report["conversations"] == 3 and report["kept"] == 0
    assert report["contamination"] == [{"evalset": "nq", "conversations": 1, "items": 1, "exact": 1}]
    by_step = {s["step"]: s for s in report["steps"]}
    assert by_step["leaks"]["reasons"] == {"leak: OpenAI": 1}
    text = cli("curate", "report")
    assert text.code == 0 and "contamination" in text.out
    rej = cli("rejects", "--step", "exact_dedup", "--limit", "3")
    assert rej.code == 0 and "kept:" in rej.out and "recursion" in rej.out
    rej = json.loads(cli("rejects", "--step", "decontaminate", "--json").out)
    assert rej[0]["counterpart"]["text"] == "explain recursion simply to a beginner please"
    assert cli("rejects", "--step", "nope").err.startswith("Error: unknown step")
    bad = cli("curate", "--set", "near_dedup.nope=1")
    assert bad.code == 1 and bad.err.startswith("Error: unknown key(s) nope in near_dedup")
    printed = cli("curate", "--print-config")
    assert "band_threshold: 0.7" in printed.out and "detector: \"two_stage\"" in printed.out
    path = tmp_path / "printed.yaml"
    path.write_text(printed.out)
    assert load_config(path).to_dict() == load_config().to_dict()  # the printed config loads back


@pytest.mark.slow
def test_worker_processes_give_the_same_verdicts(registry, add, curate):
    rng = random.Random(4)
    texts = [essay(rng, 80) for _ in range(30)]
    add([conv("Answer me", t) for t in texts] + [conv("Answer me", edited(t, rng, 1)) for t in texts[:10]]
        + [conv("Who are you?", "I am ChatGPT.")]
        + [conv(f"Question {i}  ", f"An answer \t\n\n\n\nin two parts {i}.") for i in range(5)])  # normalised
    pipeline = "normalize,structure,near_dedup,leaks,repetition"
    serial = curate(None, "batch_size=7", pipeline=pipeline)
    query = ("SELECT step, conversation_id, keep, reason, details, input_hash FROM t_verdict ORDER BY ALL",
             "SELECT step, conversation_id, messages FROM t_message_version ORDER BY step, conversation_id")
    before = [registry.rows(q) for q in query]
    parallel = curate(None, "batch_size=7", "workers=2", "parallel_min=1", pipeline=pipeline, rerun=True)
    after = [registry.rows(q) for q in query]
    assert before == after and before[1]  # verdicts and the normalised messages come back from workers intact
    assert {s: r.dropped for s, r in serial.items()} == {s: r.dropped for s, r in parallel.items()}
    assert serial["near_dedup"].dropped == 10 and serial["leaks"].dropped == 1


def test_rejudging_replaces_verdicts_and_versions_once_per_conversation(registry, add, curate):
    ids = add([conv("Hi  there, how are you today?", "Fine,  thanks.\n\n\n\nAnd you?"),
               conv("Short?", "Yes.")])
    curate("normalize,structure")  # first run: nothing stored yet, nothing to replace
    curate("normalize,structure", "normalize.whitespace=false", "structure.min_chars=10")
    curate("normalize,structure", "normalize.whitespace=false", "structure.min_chars=10")  # unchanged: no work
    counts = registry.rows("SELECT step, conversation_id, count(*) AS n FROM t_verdict GROUP BY ALL")
    assert len(counts) == 4 and all(r["n"] == 1 for r in counts)
    versions = registry.rows("SELECT conversation_id, count(*) AS n FROM t_message_version "
                             "WHERE step = 'normalize' GROUP BY ALL")
    assert versions == [] or all(r["n"] == 1 for r in versions)
    assert verdicts(registry, "structure")[ids[1]]["keep"]  # 10 characters: kept under the new minimum
