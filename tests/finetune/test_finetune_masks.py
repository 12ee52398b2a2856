"""Loss masks checked token by token, on the labels TRL's trainer actually receives."""

from __future__ import annotations

from pathlib import Path

import pytest

from imitkit.finetune.config import build_sft_config, load_settings
from imitkit.finetune.masking import check_example, normalize_messages
from imitkit.finetune.run import prepare
from imitkit.finetune.template import DEFAULT_TEMPLATE_NAME, default_template


def _prepare(registry: Path, model: Path, *extra: str, snapshot: str = "identity"):
    from imitkit.clikit import stderr_console

    settings = load_settings({"snapshot": snapshot, "model": str(model)}, None, list(extra))
    return settings, prepare(settings, registry, stderr_console())


def _assistant_spans(text: str, messages: list[dict], eos: str) -> list[tuple[int, int]]:
    """Independent of the library: find each assistant reply, with its leading space and eos, in order."""
    spans, cursor = [], 0
    for m in messages:
        if m["role"] == "assistant":
            piece = " " + m["content"] + eos
            start = text.index(piece, cursor)
            spans.append((start, start + len(piece)))
            cursor = start + len(piece)
    return spans


def test_trainer_labels_are_masked_exactly_outside_assistant_turns(ft_registry, tiny_base):
    from transformers import AutoModelForCausalLM

    from imitkit.finetune.trainer import ImitkitSFTTrainer

    settings, prep = _prepare(ft_registry, tiny_base, "--max_length", "512", "--max_examples", "40")
    assert prep.template.source == DEFAULT_TEMPLATE_NAME and prep.report.problems() == []
    tokenizer = prep.tokenizer
    trainer = ImitkitSFTTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_base),
                                args=build_sft_config(settings, "unused"), train_dataset=prep.train,
                                processing_class=tokenizer)
    from imitkit.finetune.snapshot import load_split

    conversations = load_split(prep.snapshot, "train", 40)
    multi_turn = 0
    for i in range(len(conversations)):
        messages = normalize_messages(conversations[i]["messages"])
        row = trainer.train_dataset[i]
        text = tokenizer.apply_chat_template(messages, chat_template=default_template(), tokenize=False)
        spans = _assistant_spans(text, messages, tokenizer.eos_token)
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        assert row["input_ids"] == enc["input_ids"]
        for pos, (token, (s, e)) in enumerate(zip(enc["input_ids"], enc["offset_mapping"])):
            inside = any(a <= s and e <= b for a, b in spans)
            straddles = any(s < a < e or s < b < e for a, b in spans)
            assert not straddles, f"token {pos} crosses a turn boundary in {text!r}"
            assert row["labels"][pos] == (token if inside else -100), (
                f"example {i} token {pos} {tokenizer.decode([token])!r}: label {row['labels'][pos]}, inside={inside}")
        assert sum(label != -100 for label in row["labels"]) > 0
        multi_turn += len(spans) > 1
    assert multi_turn >= 5  # the check covered conversations with several assistant turns


def test_system_message_is_masked_and_eos_trained(tiny_base):
    from transformers import AutoTokenizer

    from imitkit.finetune.masking import tokenize_batch

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    messages = [{"role": "system", "content": "Be brief.", "tool_calls": None},
                {"role": "user", "content": "Who are you?", "tool_calls": None},
                {"role": "assistant", "content": "I am Vicuna.", "tool_calls": None}]
    out = tokenize_batch({"messages": [messages]}, tokenizer, default_template(), True, None)
    ids, labels = out["input_ids"][0], out["labels"][0]
    trained = tokenizer.decode([t for t, label in zip(ids, labels) if label != -100])
    assert trained == " I am Vicuna.</s>"
    assert tokenizer.decode(ids).startswith("<s>Be brief. USER: Who are you? ASSISTANT:")
    assert check_example(tokenizer, default_template(), messages, ids, labels).ok


def test_mask_check_refuses_a_template_that_trains_the_user(ft_registry, tiny_base, tmp_path, cli):
    # Generation markers around the user's turn instead of the assistant's: TRL would train on
    # the prompts without a word; the check pass must see it and refuse.
    wrong = default_template().replace("{%- generation -%}", "").replace("{%- endgeneration -%}", "")
    wrong = wrong.replace("{{- 'USER: ' + message['content'] + ' ' -}}",
                          "{%- generation -%}{{- 'USER: ' + message['content'] + ' ' -}}{%- endgeneration -%}")
    assert wrong.count("{%- generation -%}") == 1 and "{%- generation -%}{{- 'USER" in wrong
    template = tmp_path / "wrong.jinja"
    template.write_text(wrong)
    result = cli("finetune", "--snapshot", "identity", "--model", tiny_base, "--chat-template", template,
                 "--check", "--json", "--max_examples", "30")
    assert result.code == 1
    assert "the loss mask disagrees with the assistant's turns in 30 of 30" in result.err
    assert "trained but outside an assistant turn" in result.out
    warned = cli("finetune", "--snapshot", "identity", "--model", tiny_base, "--chat-template", template,
                 "--check", "--max_examples", "30", "--on_mask_mismatch", "warn")
    assert warned.code == 0 and "mismatch" in warned.err


def test_template_without_generation_markers_is_refused(ft_registry, tiny_base, tmp_path, cli):
    plain = tmp_path / "plain.jinja"
    plain.write_text("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}")
    result = cli("finetune", "--snapshot", "identity", "--model", tiny_base, "--chat-template", plain, "--check")
    assert result.code == 1 and "has no {% generation %} markers" in result.err
    # Full-sequence loss needs no markers: every token is trained.
    full = cli("finetune", "--snapshot", "identity", "--model", tiny_base, "--chat-template", plain, "--check",
               "--json", "--assistant_only_loss", "false", "--max_examples", "20")
    assert full.code == 0 and '"assistant_only_loss": false' in full.out


def test_own_template_with_markers_is_kept(ft_registry, tiny_base, tmp_path):
    import shutil

    from transformers import AutoTokenizer

    model = tmp_path / "chat-model"
    shutil.copytree(tiny_base, model)
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.chat_template = default_template().replace("USER: ", "HUMAN: ")
    tokenizer.save_pretrained(model)
    _, prep = _prepare(ft_registry, model, "--max_examples", "10")
    assert prep.template.source == "the tokenizer's own" and "HUMAN: " in prep.template.text
    assert prep.report.mask_mismatches == 0


@pytest.mark.parametrize("messages_sql", ["list_filter(messages, lambda m: m.role <> 'assistant')"])
def test_all_masked_examples_never_reach_trl(ft_registry, tiny_base, snapshot, messages_sql):
    snapshot("half-masked", messages_sql=f"CASE WHEN id < 'c:2' THEN {messages_sql} ELSE messages END")
    _, prep = _prepare(ft_registry, tiny_base, "--max_untrainable_fraction", "0.5", snapshot="half-masked")
    report = prep.report
    assert 0 < report.untrainable < report.examples
    assert report.untrainable_reasons == {"no assistant tokens": report.untrainable}
    assert len(prep.train) == report.examples - report.untrainable
    assert all(any(label != -100 for label in row["labels"]) for row in prep.train)


def test_templates_without_markers_get_a_training_template(tiny_base):
    from transformers import AutoTokenizer
    from trl.chat_template_utils import qwen2_5_chat_template

    from imitkit.finetune.template import choose_template, has_generation_markers

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    # A known template (Qwen 2.5) without markers: TRL's training variant of it, with markers.
    tokenizer.chat_template = qwen2_5_chat_template
    known = choose_template(tokenizer, None, assistant_only=True)
    assert known.source == "TRL's training variant of the tokenizer's template"
    assert has_generation_markers(known.text) and not has_generation_markers(qwen2_5_chat_template)
    # An unknown template without markers: the default, and the check pass says why.
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    unknown = choose_template(tokenizer, None, assistant_only=True)
    assert unknown.source == DEFAULT_TEMPLATE_NAME and "no known training variant" in unknown.notes[0]
    # Full-sequence loss keeps the tokenizer's own template.
    assert choose_template(tokenizer, None, assistant_only=False).source == "the tokenizer's own"
