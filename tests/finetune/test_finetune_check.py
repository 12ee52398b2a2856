"""The check pass: counts, refusals (all-masked, over-long), the rendered example, snapshot errors."""

from __future__ import annotations

import json

from imitkit.finetune.template import default_template

STRIP_ASSISTANT = "list_filter(messages, lambda m: m.role <> 'assistant')"


def _report(result) -> dict:
    return json.loads(result.out)


def _lengths(registry, tokenizer, first_prompt_only: bool = False) -> list[int]:
    """Token counts of every conversation (or of its prompt before the first reply), apart from the library."""
    from imitkit.registry.store import Registry

    with Registry.open(registry, read_only=True) as reg:
        rows = reg.rows("SELECT messages FROM conversations")
    out = []
    for row in rows:
        messages = [{k: v for k, v in m.items() if v is not None} for m in row["messages"]]
        if first_prompt_only:
            messages = messages[: next(i for i, m in enumerate(messages) if m["role"] == "assistant")]
        out.append(len(tokenizer.apply_chat_template(messages, chat_template=default_template(), tokenize=True,
                                                     return_dict=True, add_generation_prompt=first_prompt_only)
                       ["input_ids"]))
    return out


def test_check_reports_counts_and_a_rendered_example(ft_registry, tiny_base, cli):
    from transformers import AutoTokenizer

    result = cli("finetune", "--snapshot", "identity", "--model", tiny_base, "--check", "--json")
    assert result.code == 0, result
    report = _report(result)
    assert report["examples"] == 500 and report["untrainable"] == 0 and report["problems"] == []
    assert report["template"] == "imitkit default (Vicuna v1.1)"
    assert report["mask_checked"] == 256 and report["mask_mismatches"] == 0
    assert 0 < report["trainable_tokens"] < report["total_tokens"]
    # Total tokens agree with an independent tokenization of the rendered conversations.
    assert report["total_tokens"] == sum(_lengths(ft_registry, AutoTokenizer.from_pretrained(tiny_base)))
    kinds = {part["kind"] for part in report["example"]}
    assert kinds == {"trained", "masked"}
    trained = "".join(p["text"] for p in report["example"] if p["kind"] == "trained")
    assert trained.endswith("</s>") and "USER:" not in trained
    assert "⟦" in result.err and "ok: ready to train" in result.err


def test_check_refuses_an_all_masked_dataset(ft_registry, tiny_base, snapshot, cli):
    snapshot("no-replies", messages_sql=STRIP_ASSISTANT)
    result = cli("finetune", "--snapshot", "no-replies", "--model", tiny_base, "--check", "--json")
    assert result.code == 1
    assert result.err.strip().endswith("check failed: no example has a trainable token")
    report = _report(result)
    assert report["untrainable"] == report["examples"] == 500
    assert report["untrainable_reasons"] == {"no assistant tokens": 500}
    # A training run refuses before loading the model or writing anything.
    run = cli("finetune", "--snapshot", "no-replies", "--model", tiny_base, "--max_steps", "1")
    assert run.code == 1 and "nothing trained" in run.err
    assert cli("sql", "SELECT count(*) AS n FROM runs WHERE command = 'finetune'", "--json").out.count('"n": 0') == 1


def test_check_catches_over_long_examples(ft_registry, tiny_base, cli):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    lengths = _lengths(ft_registry, tokenizer)
    # Where each conversation's first reply starts: the rendered prompt plus "ASSISTANT:".
    starts = _lengths(ft_registry, tokenizer, first_prompt_only=True)
    limit = sorted(starts)[len(starts) // 2] + 1  # about half keep a reply token, half lose all of them
    result = cli("finetune", "--snapshot", "identity", "--model", tiny_base, "--check", "--json",
                 "--max_length", str(limit))
    assert result.code == 1
    report = _report(result)
    assert report["truncated"] == sum(n > limit for n in lengths) > 0
    assert report["longest"] == max(lengths)
    assert report["untrainable"] == sum(start >= limit for start in starts) > 0
    assert report["untrainable_reasons"] == {"assistant tokens cut by max_length": report["untrainable"]}
    assert "over max_untrainable_fraction=0.01" in result.err
    # Allowed explicitly, the run keeps the trainable examples, each within max_length.
    allowed = cli("finetune", "--snapshot", "identity", "--model", tiny_base, "--check", "--json",
                  "--max_length", str(limit), "--max_untrainable_fraction", "0.9")
    kept = 500 - report["untrainable"]
    assert allowed.code == 0 and kept <= _report(allowed)["total_tokens"] <= limit * kept


def test_missing_and_tampered_snapshots(ft_registry, tiny_base, cli):
    missing = cli("finetune", "--snapshot", "nope", "--model", tiny_base, "--check")
    assert missing.code == 1 and "no snapshot 'nope'" in missing.err and "identity" in missing.err
    parquet = ft_registry / "snapshots" / "identity" / "train.parquet"
    parquet.write_bytes(parquet.read_bytes() + b"\0")
    tampered = cli("finetune", "--snapshot", "identity", "--model", tiny_base, "--check")
    assert tampered.code == 1 and "does not match the sha256 in its manifest" in tampered.err
    no_model = cli("finetune", "--snapshot", "identity", "--check")
    assert no_model.code == 1 and "--model is required" in no_model.err
