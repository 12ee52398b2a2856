"""`imitkit import` end to end: real files, bad input, idempotence, strict mode, provenance."""

import gzip
import json

import pytest

from imitkit.registry.store import Registry


def q(registry_dir, sql):
    with Registry.open(registry_dir, read_only=True) as reg:
        return reg.con.execute(sql).fetchall()


@pytest.mark.parametrize("fmt, rel, expect", [
    ("sharegpt", "sharegpt/fastchat/dummy_conversation.json", 500),
    ("auto", "sharegpt/fastchat/dummy_conversation_with_system.json", 500),
    ("auto", "sharegpt/medicalgpt_zh/sharegpt_zh_1K.json", 1000),  # JSON Lines named .json
    ("sharegpt", "sharegpt/axolotl_fixtures/conversation.json", 1),  # a bare object without id
    ("auto", "sharegpt/axolotl_fixtures/conversation.missingturns.json", 1),  # an empty gpt turn
    ("hc3", "hc3/wiki_csai.jsonl", 1684),  # one conversation per answer
    ("auto", "llamafactory_demos/alpaca_en_demo.json", 999),
    ("auto", "llamafactory_demos/glaive_toolcall_en_demo.json", 300),  # function_call/observation
    ("oasst", "oasst/en_100_tree.jsonl", None),
    ("alpaca", "gpteacher/codegen-instruct.json", None),  # `response` instead of `output`
])
def test_real_files_import_without_quarantine(cli, shared_data, registry_dir, fmt, rel, expect):
    result = cli("import", fmt, shared_data / rel, "--source", "s", "--strict")
    assert result.code == 0, result
    assert "0 quarantined" in result.out
    conversations, occurrences = q(registry_dir, "SELECT (SELECT count(*) FROM occurrences), "
                                                 "(SELECT count(DISTINCT conversation_id) FROM occurrences)")[0]
    if expect is not None:
        assert conversations == expect  # every record (or HC3 answer) has its occurrence
    assert q(registry_dir, "SELECT count(*) FROM conversations")[0][0] == occurrences


def test_hc3_origins_and_subset(cli, shared_data, registry_dir):
    assert cli("import", "hc3", shared_data / "hc3/wiki_csai.jsonl", "--source", "hc3", "--license", "CC-BY-SA-4.0").code == 0
    rows = dict(q(registry_dir, "SELECT origin || '/' || coalesce(teacher_model, '-'), count(*) FROM conversations GROUP BY 1"))
    assert rows == {"human/-": 842, "teacher/chatgpt": 842}
    assert q(registry_dir, "SELECT DISTINCT metadata->>'hc3_subset' FROM conversations") == [("wiki_csai",)]
    assert q(registry_dir, "SELECT license, format FROM sources") == [("CC-BY-SA-4.0", "hc3")]


def test_oasst_paths_and_tool_calls(cli, shared_data, registry_dir):
    cli("import", "oasst", shared_data / "oasst/en_100_tree.jsonl", "--source", "oa")
    n_paths, n_human = q(registry_dir, "SELECT count(*), count(*) FILTER (origin = 'human') FROM conversations")[0]
    leaves = 0
    for line in open(shared_data / "oasst/en_100_tree.jsonl"):
        stack = [json.loads(line)["prompt"]]
        while stack:
            node = stack.pop()
            if node.get("deleted"):
                continue
            kids = [r for r in node.get("replies", []) if not r.get("deleted")]
            leaves += not kids
            stack += kids
    assert n_paths == leaves and 0 < n_paths - n_human < n_paths  # a few synthetic paths are teacher-made
    cli("import", "auto", shared_data / "llamafactory_demos/glaive_toolcall_en_demo.json", "--source", "glaive")
    calls = q(registry_dir, "SELECT count(*) FROM conversations, unnest(messages) AS t(m) "
                            "WHERE source = 'glaive' AND m.tool_calls IS NOT NULL AND m.role = 'assistant'")[0][0]
    tools = q(registry_dir, "SELECT count(*) FROM conversations, unnest(messages) AS t(m) "
                            "WHERE source = 'glaive' AND m.role = 'tool'")[0][0]
    assert calls > 0 and tools > 0


def test_reimport_adds_nothing_and_cross_source_copies_are_one_row(cli, shared_data, registry_dir):
    path = shared_data / "sharegpt/fastchat/dummy_conversation.json"
    first = cli("import", "sharegpt", path, "--source", "fc")
    again = cli("import", "sharegpt", path, "--source", "fc")
    assert "500 new" in first.out and "0 new, 500 already present" in again.out
    assert q(registry_dir, "SELECT count(*) FROM occurrences")[0][0] == 500
    other = cli("import", "sharegpt", shared_data / "sharegpt/fastchat/dummy_conversation_with_system.json",
                "--source", "fc_sys")
    assert "6 new, 494 already present" in other.out  # only 6 records carry a system prompt
    assert q(registry_dir, "SELECT count(*) FROM conversations")[0][0] == 506
    assert q(registry_dir, "SELECT count(*) FROM occurrences")[0][0] == 1000
    assert q(registry_dir, "SELECT count(*) FROM runs WHERE command = 'import' AND status = 'ok'")[0][0] == 3


def _bad_dump(tmp_path):
    good = {"id": "g1", "conversations": [{"from": "human", "value": "hello there"}, {"from": "gpt", "value": "hi!"}]}
    lines = [
        json.dumps(good),
        "",
        '{"id": "broken", "conversations": [',  # bad JSON
        json.dumps({"id": "r1", "conversations": [{"from": "narrator", "value": "x"}]}),  # unknown role
        json.dumps({"id": "t1", "conversations": [{"from": "human", "value": ["not", "text"]}]}),  # wrong type
        json.dumps({"id": "n1", "title": "no messages"}),
        json.dumps({"id": "e1", "conversations": []}),
        json.dumps({**good, "id": "g2", "conversations": good["conversations"] + [{"from": "human", "value": "more?"}]}),
    ]
    path = tmp_path / "messy.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    return path


def test_bad_records_are_quarantined_with_file_line_and_reason(cli, tmp_path, registry_dir):
    path = _bad_dump(tmp_path)
    result = cli("import", "sharegpt", path, "--source", "messy")
    assert result.code == 0 and "2 new" in result.out and "5 quarantined" in result.out
    rows = q(registry_dir, "SELECT line, record_index, reason, excerpt FROM quarantine ORDER BY line")
    assert [(r[0], r[1]) for r in rows] == [(3, 1), (4, 2), (5, 3), (6, 4), (7, 5)]
    reasons = " | ".join(r[2] for r in rows)
    for expected in ["invalid JSON", "unknown role 'narrator'", "expected a string", "no 'conversations' list",
                     "no messages"]:
        assert expected in reasons
    assert all(str(path.resolve()) == f for (f,) in q(registry_dir, "SELECT DISTINCT file FROM quarantine"))
    assert '"narrator"' in rows[1][3]
    strict = cli("import", "sharegpt", path, "--source", "messy", "--strict")
    assert strict.code == 2 and "0 new" in strict.out
    assert q(registry_dir, "SELECT count(*) FROM quarantine")[0][0] == 5  # not duplicated by the re-run
    shown = cli("quarantine", "--source", "messy")
    assert shown.code == 0 and "narrator" in shown.out


def test_whole_file_errors_are_one_line_and_write_nothing(cli, tmp_path, registry_dir, shared_data):
    csv = tmp_path / "table.csv"
    csv.write_text("a,b\n1,2\n")
    good = shared_data / "sharegpt/fastchat/dummy_conversation.json"
    for args in [(good, csv), (good, tmp_path / "missing.json")]:
        result = cli("import", "auto", *args, "--source", "x")
        assert result.code == 1 and result.err.startswith("Error: ") and result.err.count("\n") == 1
    assert cli("import", "nope", good, "--source", "x").code == 1
    assert q(registry_dir, "SELECT count(*) FROM conversations")[0][0] == 0


def test_hf_saved_dataset(cli, tmp_path, registry_dir):
    import datasets

    ds = datasets.Dataset.from_list([{"messages": [{"role": "user", "content": f"q{i}"},
                                                   {"role": "assistant", "content": f"a{i}"}]} for i in range(5)])
    ds.save_to_disk(str(tmp_path / "saved"))
    result = cli("import", "auto", f"hf:{tmp_path / 'saved'}", "--source", "hf")
    assert result.code == 0 and "5 new" in result.out, result
    assert q(registry_dir, "SELECT DISTINCT file FROM occurrences")[0][0].startswith("hf:")


def test_cli_queries(cli, shared_data, registry_dir):
    cli("import", "hc3", shared_data / "hc3/wiki_csai.jsonl", "--source", "hc3")
    stats = cli("stats", "--by", "origin", "--json")
    assert {r["group"]: r["conversations"] for r in json.loads(stats.out)} == {"human": 842, "teacher": 842}
    rows = json.loads(cli("sql", "SELECT id FROM conversations ORDER BY id LIMIT 1", "--json").out)
    shown = cli("show", rows[0]["id"][:10])
    assert shown.code == 0 and "wiki_csai.jsonl" in shown.out
    assert "hc3" in cli("sources").out
    refused = cli("sql", "DELETE FROM t_conversation")
    assert refused.code == 1 and "read-only" in refused.err
    other = registry_dir.parent / "other"
    assert cli("init", "--registry", other, registry=None).code == 0  # the option after the command works too
    assert (other / "registry.duckdb").exists()


def test_a_changed_record_is_a_new_occurrence_of_a_new_conversation(cli, tmp_path, registry_dir):
    path = tmp_path / "d.jsonl"
    turns = [{"from": "human", "value": "What is DuckDB?"}, {"from": "gpt", "value": "An embedded database."}]
    path.write_text(json.dumps({"id": "a", "conversations": turns}) + "\n")
    cli("import", "sharegpt", path, "--source", "s")
    turns[1]["value"] = "An in-process analytical database."
    path.write_text(json.dumps({"id": "a", "conversations": turns}) + "\n")
    assert "1 new" in cli("import", "sharegpt", path, "--source", "s").out
    rows = q(registry_dir, "SELECT c.id, count(o.conversation_id) FROM conversations c "
                           "LEFT JOIN occurrences o ON o.conversation_id = c.id GROUP BY 1")
    assert len(rows) == 2 and all(n == 1 for _, n in rows)  # both versions keep their provenance
