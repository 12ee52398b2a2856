"""Curation on the real files in ../shared/data."""

from __future__ import annotations

import json
import random

import pytest
from curation_helpers import conv, verdicts

from imitkit.collectors.importer import ImportOptions, import_files
from imitkit.registry.evalsets import items_from_file, register


def import_sharegpt(registry, path, source):
    import_files(registry, [str(path)], ImportOptions("sharegpt", source, None, None, None, None, 20_000))


@pytest.mark.slow
def test_medicalgpt_zh_is_tagged_chinese_but_holds_english_and_mixed(registry, shared_data, curate):
    import_sharegpt(registry, shared_data / "sharegpt/medicalgpt_zh/sharegpt_zh_1K.json", "medicalgpt_zh")
    results = curate(None, "language.keep=[zh]", pipeline="normalize,structure,language")
    assert results["structure"].dropped >= 1  # conversations ending on a user turn are trimmed, empty ones dropped
    langs = dict(registry.query("SELECT lang, count(*) FROM conversations GROUP BY lang").fetchall())
    assert langs["zh"] > 800
    assert langs.get("en", 0) >= 5 and {"ru", "ja", "ko"} <= set(langs)  # "zh", yet not only Chinese
    mixed = registry.rows("""SELECT details FROM verdicts WHERE step = 'language'
                             AND json_extract(details, '$.mixed')::BOOLEAN""")
    pairs = {(json.loads(r["details"])["user"]["lang"], json.loads(r["details"])["assistant"]["lang"]) for r in mixed}
    assert ("en", "zh") in pairs  # English questions answered in Chinese are reported
    report = registry.scalar("SELECT count(*) FROM conversations WHERE kept AND lang <> 'zh'")
    assert report == 0, registry.rows("SELECT c.id, c.lang, v.step, v.keep, v.reason, v.details FROM conversations c JOIN verdicts v ON v.conversation_id = c.id WHERE c.kept AND c.lang <> 'zh'")
    # Every HTML tag in this file sits inside code: normalize must not touch it as a page.
    html = registry.scalar("SELECT count(*) FROM verdicts WHERE step = 'normalize' "
                           "AND json_extract(details, '$.html') IS NOT NULL")
    assert html == 0


def test_nq_and_humaneval_items_pasted_into_prompts(registry, shared_data, add, curate):
    nq = items_from_file(shared_data / "nq_open/NQ-open.dev.jsonl", "question")
    register(registry, "nq_open", nq, task="nq")
    humaneval = items_from_file(shared_data / "humaneval/HumanEval.jsonl.gz", "prompt", id_field="task_id")
    register(registry, "humaneval", humaneval, task="humaneval")
    rng = random.Random(0)
    picked = rng.sample(nq, 40)
    planted = add([conv(f"Quick question: {q.text.capitalize()}? Thanks!", "Here is the answer.") for q in picked])
    code = add([conv("Complete this:\n" + humaneval[3].text, "def solution(): ...")])
    import_sharegpt(registry, shared_data / "sharegpt/fastchat/dummy_conversation.json", "fastchat")
    result = curate("decontaminate")["decontaminate"]
    v = verdicts(registry, "decontaminate")
    for item, cid in zip(picked, planted):
        assert v[cid]["reason"] == "contaminated: nq_open" and v[cid]["details"]["item_id"] == item.item_id
    assert v[code[0]]["details"]["evalset"] == "humaneval" and v[code[0]]["details"]["item_id"] == humaneval[3].item_id
    assert result.dropped == len(picked) + 1  # none of FastChat's 500 identity chats is flagged


@pytest.mark.slow
def test_fastchat_identity_templates_collapse_under_near_dedup(registry, shared_data, curate):
    import_sharegpt(registry, shared_data / "sharegpt/fastchat/dummy_conversation.json", "fastchat")
    results = curate(None, pipeline="normalize,structure,exact_dedup,near_dedup,leaks")
    nd = results["near_dedup"]
    assert nd.dropped > 0 and nd.kept > 0
    rows = registry.rows("SELECT details FROM verdicts WHERE step = 'near_dedup' AND NOT keep")
    assert all(json.loads(r["details"])["jaccard"] >= 0.8 for r in rows)
    # The "I am Vicuna … not OpenAI" answers are flagged as leaks on the survivors.
    assert results["leaks"].reasons
