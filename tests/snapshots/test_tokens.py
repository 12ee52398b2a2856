"""Token counts: exact with a tokenizer trained here, cached and resumable; the approximation."""

from __future__ import annotations

import json
import random

import pytest

from snapshots.conftest import three
from snapshots.helpers import CHATML_PLAIN, conversation, populate

NO_SYSTEM = ("{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
             "<|im_start|>{{ m['role'] }}\n{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] }}"
             "<|im_end|>{% endgeneration %}{% else %}{{ m['content'] }}<|im_end|>{% endif %}{% endfor %}")


def test_mask_and_prefix_difference_agree(tokenizer_dir, tmp_path):
    from imitkit.registry.tokenizer import Counter, resolve

    (tmp_path / "plain.jinja").write_text(CHATML_PLAIN)
    masked, plain = Counter(resolve(tokenizer_dir)), Counter(resolve(tokenizer_dir, str(tmp_path / "plain.jinja")))
    assert masked.spec.key != plain.spec.key
    assert (masked.spec.trainable_method, plain.spec.trainable_method) == ("generation-mask", "prefix-diff")
    rng = random.Random(3)
    convs = [conversation(rng, i, chinese=i % 3 == 0) for i in range(40)]
    for conv, (t1, tt1, e1), (t2, tt2, e2) in zip(convs, masked.count(convs), plain.count(convs)):
        assert e1 is None and e2 is None and t1 == t2  # the same rendered text
        assistant_turns = sum(m["role"] == "assistant" for m in conv)
        # Prefix differences also count the newline after each <|im_end|>; the mask stops at it.
        assert 0 <= tt2 - tt1 <= assistant_turns
        content = sum(len(masked.tokenizer(m["content"], add_special_tokens=False)["input_ids"])
                      for m in conv if m["role"] == "assistant")
        assert tt1 >= content + assistant_turns - 2 * assistant_turns  # content and <|im_end|>, give or take merges
        assert 0 < tt1 < t1


def test_tokens_count_is_cached_and_counts_only_new_conversations(mixreg, cli, tokenizer_dir):
    n = mixreg.scalar("SELECT count(*) FROM conversations")
    mixreg.close()
    r = cli("tokens", "count", "--tokenizer", tokenizer_dir, "--json")
    assert r.code == 0, r
    assert f"counted {n:,} new" in r.err
    by_source = {s["source"]: s for s in json.loads(r.out)["sources"]}
    assert sum(s["conversations"] for s in by_source.values()) == n and by_source["zh"]["tokens"] > 0
    assert "counted 0 new" in cli("tokens", "count", "--tokenizer", tokenizer_dir).err
    from imitkit.registry.store import Registry

    with Registry.open(mixreg.root) as reg:
        populate(reg, {"alpha": 7}, seed=5, start=9000)
    assert "counted 7 new" in cli("tokens", "count", "--tokenizer", tokenizer_dir).err
    listed = json.loads(cli("tokens", "list", "--json").out)
    assert listed[0]["conversations"] == n + 7 and listed[0]["trainable_method"] == "generation-mask"


def test_exact_mixture_counts_only_what_it_may_select(mixreg, cli, registry_dir, tokenizer_dir):
    n = mixreg.scalar("SELECT count(*) FROM conversations")
    mixreg.close()
    r = cli("mix", "exact", *three("8k"), "--tokenizer", tokenizer_dir, "--json")
    assert r.code == 0, r
    result = json.loads(r.out)
    assert result["token_counts_exact"] and "APPROXIMATE" not in r.out + r.err
    from imitkit.registry.store import Registry

    with Registry.open(registry_dir, read_only=True) as reg:
        counted = reg.scalar("SELECT count(*) FROM token_counts")
        largest = reg.scalar("SELECT max(n_trainable_tokens) FROM token_counts")
        stored = dict(reg.con.execute("SELECT conversation_id, n_trainable_tokens FROM token_counts").fetchall())
    assert 0 < counted < n / 2  # a prefix per component, not the registry
    for comp in result["components"]:
        assert abs(comp["tokens"] - comp["share"]) <= largest / 2
    import pyarrow.parquet as pq

    rows = pq.read_table(registry_dir / "snapshots" / "exact" / "train.parquet").to_pylist()
    assert all(stored[x["id"]] == x["n_trainable_tokens"] for x in rows)
    doc = json.loads((registry_dir / "snapshots" / "exact" / "manifest.json").read_text())
    assert doc["token_counts_exact"] and doc["tokenizer"] and doc["chat_template"]["trainable_method"] == "generation-mask"


def test_conversations_the_template_cannot_render_are_recorded_and_skipped(registry, cli, registry_dir,
                                                                            tokenizer_dir, tmp_path):
    from imitkit.registry.records import Conversation, message
    from imitkit.registry.runs import recorded_run
    from imitkit.registry.writer import ConversationWriter

    populate(registry, {"alpha": 30})
    with recorded_run(registry, "test", {}) as run:
        writer = ConversationWriter(registry, run, "alpha")
        writer.add(Conversation([message("system", "be brief"), message("user", "hi"), message("assistant", "hello")]),
                   "sys.jsonl", 0)
        writer.flush()
    registry.close()
    template = tmp_path / "no_system.jinja"
    template.write_text(NO_SYSTEM)
    r = cli("mix", "nosys", "--budget", "all", "--component", "a=1:source = 'alpha'", "--tokenizer", tokenizer_dir,
            "--chat-template", template, "--json")
    assert r.code == 0, r
    comp = json.loads(r.out)["components"][0]
    assert comp["unrenderable"] == 1 and comp["conversations"] == 30
    errors = cli("sql", "SELECT error FROM token_counts WHERE error IS NOT NULL", "--json").out
    assert "no system role" in errors


def test_parallel_counting_matches_in_process_counting(mixreg, tokenizer_dir):
    from imitkit.registry.runs import recorded_run
    from imitkit.registry.tokenizer import Counter, resolve
    from imitkit.registry.tokens import count_missing

    spec = resolve(tokenizer_dir)
    with recorded_run(mixreg, "test", {}) as run:
        summary = count_missing(mixreg, spec, run, "SELECT id FROM conversations WHERE source = 'beta'",
                                workers=2, batch_size=16)
    assert summary.counted == summary.missing == 200
    rows = mixreg.con.execute("""SELECT c.messages, t.n_tokens, t.n_trainable_tokens FROM conversations c
        JOIN t_token_count t ON t.conversation_id = c.id ORDER BY c.id LIMIT 25""").fetchall()
    expected = Counter(spec).count([r[0] for r in rows])
    assert [(r[1], r[2]) for r in rows] == [(e[0], e[1]) for e in expected]


def test_the_approximation(registry):
    from imitkit.registry.records import Conversation, message
    from imitkit.registry.runs import recorded_run
    from imitkit.registry.tokens import approx_query, approx_tokens_sql
    from imitkit.registry.writer import ConversationWriter

    english, chinese = "word " * 84, "模仿数据" * 13  # 420 Latin characters; 52 CJK characters
    with recorded_run(registry, "test", {}) as run:
        writer = ConversationWriter(registry, run, "s")
        for text in (english, chinese):
            writer.add(Conversation([message("user", "hi"), message("assistant", text)]), f"{len(text)}", 0)
        writer.flush()
    total, trainable = approx_tokens_sql()
    got = {r[0]: (r[1], r[2]) for r in registry.con.execute(
        f"SELECT _chars, {total}, {trainable} FROM ({approx_query()})").fetchall()}
    # English: 422 / 4.2 characters per token, plus 4 template tokens per message (1 trainable per answer).
    assert got[422] == (round(422 / 4.2) + 8, round(420 / 4.2) + 1)
    # No language known yet: UTF-8 bytes per character tell the 52 CJK characters (1.3 per token) apart.
    assert got[54] == (round(2 / 4.2 + 52 / 1.3) + 8, round(52 / 1.3) + 1)


@pytest.mark.parametrize("where", ["nonsense_column = 1", "1; DROP TABLE t_run"])
def test_tokens_count_rejects_bad_sql(registry, cli, where):
    registry.close()
    r = cli("tokens", "count", "--where", where)
    assert r.code == 1 and "bad --where clause" in r.err


def test_a_tokenizer_without_a_template_counts_under_finetunes_default(tmp_path):
    from imitkit.finetune.template import DEFAULT_TEMPLATE_NAME, default_template
    from imitkit.finetune.tiny import train_tokenizer
    from imitkit.registry.tokenizer import resolve

    tokenizer = train_tokenizer(["hello world"] * 20, vocab_size=300)
    assert not tokenizer.chat_template
    tokenizer.save_pretrained(tmp_path / "tok")
    spec = resolve(str(tmp_path / "tok"))
    assert spec.template == default_template() and spec.template_source == DEFAULT_TEMPLATE_NAME
