"""Settings: CLI over YAML over defaults, type coercion, unknown names rejected with the valid ones."""

from __future__ import annotations

import pytest

from imitkit.finetune.config import build_sft_config, load_settings
from imitkit.finetune.errors import FinetuneConfigError


def test_cli_over_yaml_over_defaults(tmp_path):
    config = tmp_path / "sft.yaml"
    # PyYAML reads 2e-5 as a string: it must still arrive as a float.
    config.write_text("snapshot: from-yaml\nlearning_rate: 2e-5\nmax_length: 512\nlora_r: 8\n"
                      "lora_target_modules: [q_proj, v_proj]\npacking: true\n")
    settings = load_settings({"snapshot": "from-cli", "packing": None}, str(config),
                             ["--max-length", "64", "--num_train_epochs=2", "--no-packing"])
    assert settings.args.snapshot == "from-cli"
    assert settings.sft["learning_rate"] == pytest.approx(2e-5)
    assert settings.sft["max_length"] == 64 and settings.sft["num_train_epochs"] == 2.0
    assert settings.sft["packing"] is False
    assert settings.model == {"lora_r": 8, "lora_target_modules": ["q_proj", "v_proj"]}
    # imitkit's defaults: assistant-only loss (as in the paper), no reporting integrations.
    assert settings.sft["assistant_only_loss"] is True and settings.sft["report_to"] == "none"
    assert settings.args.max_untrainable_fraction == 0.01
    assert settings.given()["max_length"] == 64 and "report_to" not in settings.given()


def test_values_are_coerced_to_the_field_type():
    settings = load_settings({}, None, ["--max_length", "none", "--bf16", "false", "--lr_scheduler_kwargs",
                                        '{"min_lr": 0.0}', "--lora_target_modules", "q_proj,k_proj",
                                        "--on_mask_mismatch", "warn", "--max_examples", "10"])
    assert settings.sft["max_length"] is None and settings.sft["bf16"] is False
    assert settings.sft["lr_scheduler_kwargs"] == {"min_lr": 0.0}
    assert settings.model["lora_target_modules"] == ["q_proj", "k_proj"]
    assert settings.args.on_mask_mismatch == "warn" and settings.args.max_examples == 10


@pytest.mark.parametrize("extra, message", [
    (["--learnin_rate", "1e-4"], "Did you mean learning_rate"),
    (["--max_length", "long"], "max_length: 'long' is not a valid int or None"),
    (["--on_mask_mismatch", "ignore"], "must be one of error, warn"),
    (["--model_name_or_path", "x"], "use 'model' instead"),
    (["stray"], "unexpected argument 'stray'"),
    (["--max_steps"], "--max_steps needs a value"),
])
def test_bad_settings_are_rejected(extra, message):
    with pytest.raises(FinetuneConfigError, match=message):
        load_settings({}, None, extra)


def test_unknown_yaml_key_lists_the_valid_ones(tmp_path):
    config = tmp_path / "sft.yaml"
    config.write_text("learning_rate: 1e-4\nwarmup_ratioo: 0.1\n")
    with pytest.raises(FinetuneConfigError) as e:
        load_settings({}, str(config))
    text = str(e.value)
    assert "unknown setting 'warmup_ratioo'" in text and str(config) in text
    for valid in ("max_untrainable_fraction", "assistant_only_loss", "packing", "lora_alpha"):
        assert valid in text


def test_sft_config_is_built_for_pretokenized_labels(tmp_path):
    settings = load_settings({}, None, ["--max_steps", "3", "--learning_rate", "1e-3"])
    config = build_sft_config(settings, str(tmp_path))
    # The check pass already wrote the assistant-only mask into the labels; TRL must not redo it.
    assert config.assistant_only_loss is False and settings.assistant_only_loss is True
    assert config.max_steps == 3 and config.learning_rate == 1e-3
    assert config.bf16 is False  # no bf16 GPU here: TRL's default would fail on CPU


def test_invalid_trl_combination_is_a_config_error(tmp_path):
    settings = load_settings({}, None, ["--fp16", "true", "--bf16", "true"])
    with pytest.raises(FinetuneConfigError, match="invalid training settings"):
        build_sft_config(settings, str(tmp_path))


def test_cli_reports_unknown_setting_in_one_line(cli):
    result = cli("finetune", "--snapshot", "s", "--model", "m", "--warmup_ratioo", "0.1")
    assert result.code == 1
    assert result.err.startswith("Error: command line: unknown setting 'warmup_ratioo'")
    assert "Traceback" not in result.err


def test_list_settings(cli):
    result = cli("finetune", "--list-settings")
    assert result.code == 0
    for name in ("max_untrainable_fraction", "learning_rate", "lora_r", "packing"):
        assert name in result.out


def test_shipped_configs_load(tmp_path):
    from importlib import resources

    from accelerate.commands.config.config_args import load_config_from_file

    folder = resources.files("imitkit.finetune") / "configs"
    settings = load_settings({}, str(folder / "sft.yaml"))
    config = build_sft_config(settings, str(tmp_path))
    assert config.learning_rate == 2e-5 and config.warmup_steps == 0.03 and settings.assistant_only_loss
    kinds = {name: load_config_from_file(str(folder / f"{name}.yaml")).distributed_type.value
             for name in ("fsdp", "deepspeed_zero3", "deepspeed_zero2", "multi_gpu")}
    assert kinds == {"fsdp": "FSDP", "deepspeed_zero3": "DEEPSPEED", "deepspeed_zero2": "DEEPSPEED",
                     "multi_gpu": "MULTI_GPU"}


def test_tiny_builder_makes_a_loadable_model_and_tokenizer(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from imitkit.finetune.tiny import build_tiny_llama, main

    n = build_tiny_llama(tmp_path / "m", ["hello world, a tiny corpus"] * 20, vocab_size=300, hidden_size=16,
                         layers=1, heads=2)
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "m")
    assert n == sum(p.numel() for p in model.parameters()) and model.config.num_hidden_layers == 1
    assert tokenizer.decode(tokenizer("hello world")["input_ids"]) == "hello world"
    main([str(tmp_path / "cli"), "--hidden", "16", "--layers", "1"])
    assert (tmp_path / "cli" / "config.json").exists()
