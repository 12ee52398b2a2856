"""End-to-end training of the tiny model on a real snapshot: loss, lineage, LoRA, packing, Ctrl-C and resume."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from imitkit.registry.store import Registry

pytestmark = pytest.mark.slow

# One epoch over 48 examples in batches of 4: 12 steps, every example seen exactly once, so the
# trainable tokens the trainer counts must equal the check pass's count.
EPOCH = ["--num_train_epochs", "1", "--max_examples", "48", "--per_device_train_batch_size", "4",
         "--learning_rate", "3e-3", "--logging_steps", "1", "--activation_checkpointing", "false",
         "--max_length", "256", "--save_strategy", "no", "--disable_tqdm", "true", "--seed", "0"]


def _trainable_tokens(cli, model: Path, *extra: str) -> int:
    result = cli("finetune", "--snapshot", "identity", "--model", model, "--check", "--json",
                 "--max_examples", "48", "--max_length", "256", *extra)
    assert result.code == 0, result
    return json.loads(result.out)["trainable_tokens"]


def _registry_rows(registry: Path, sql: str) -> list[dict]:
    with Registry.open(registry, read_only=True) as reg:
        return reg.rows(sql)


def test_training_lowers_loss_and_records_lineage(ft_registry, tiny_base, tmp_path, cli):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from imitkit.finetune.template import default_template

    out = tmp_path / "model"
    result = cli("finetune", "--snapshot", "identity", "--model", tiny_base, "--output-dir", out, *EPOCH)
    assert result.code == 0, result
    losses = [log["loss"] for log in json.loads((out / "trainer_state.json").read_text())["log_history"]
              if "loss" in log]
    assert len(losses) == 12 and sum(losses[-3:]) / 3 < 0.8 * losses[0]

    fingerprint = json.loads((ft_registry / "snapshots" / "identity" / "manifest.json").read_text())["fingerprint"]
    [model] = _registry_rows(ft_registry, "SELECT * FROM models")
    [run] = _registry_rows(ft_registry, "SELECT * FROM runs WHERE command = 'finetune'")
    assert model["model_dir"] == str(out) and model["snapshot"] == "identity"
    assert model["snapshot_fingerprint"] == fingerprint and model["base_model"] == str(tiny_base)
    assert model["run_id"] == run["id"] and run["status"] == "ok" and model["adapter"] is False
    assert model["global_step"] == 12 and model["train_loss"] > 0
    assert json.loads(model["config"])["sft"]["learning_rate"] == 3e-3
    expected = _trainable_tokens(cli, tiny_base)
    assert model["trainable_tokens_seen"] == expected == json.loads(run["counts"])["trainable_tokens_seen"]

    card = (out / "README.md").read_text()
    for fact in (fingerprint, "`identity`", str(tiny_base), f"{expected:,}", run["id"], "learning_rate: 0.003"):
        assert fact in card
    assert f"{expected:,} trainable tokens seen" in result.out
    # The output directory is a loadable model whose tokenizer renders as training did.
    AutoModelForCausalLM.from_pretrained(out)
    assert AutoTokenizer.from_pretrained(out).chat_template == default_template()
    again = cli("finetune", "--snapshot", "identity", "--model", tiny_base, "--output-dir", out, *EPOCH)
    assert again.code == 1 and "already holds a trained model" in again.err


def test_lora_trains_an_adapter_and_evaluates_on_the_eval_split(ft_registry, tiny_base, tmp_path, cli, snapshot):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    snapshot("with-eval", where="id < 'c:f'", eval_where="id >= 'c:f'")
    out = tmp_path / "adapter"
    result = cli("finetune", "--snapshot", "with-eval", "--model", tiny_base, "--output-dir", out, "--lora",
                 "--lora_r", "4", "--lora_alpha", "8", "--lora_dropout", "0", *EPOCH, "--max_steps", "4")
    assert result.code == 0, result
    assert (out / "adapter_config.json").is_file() and not (out / "model.safetensors").exists()
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 4
    [model] = _registry_rows(ft_registry, "SELECT adapter, global_step, eval_loss FROM models")
    assert model["adapter"] is True and model["global_step"] == 4 and 0 < model["eval_loss"] < 20
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_base), out)
    lora_b = [p for name, p in tuned.named_parameters() if "lora_B" in name]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)  # B starts at zero: non-zero means it trained
    assert "LoRA adapter" in (out / "README.md").read_text()


def test_packing_counts_the_same_trainable_tokens(ft_registry, tiny_base, tmp_path, cli):
    out = tmp_path / "packed"
    result = cli("finetune", "--snapshot", "identity", "--model", tiny_base, "--output-dir", out, "--packing",
                 *EPOCH)
    assert result.code == 0, result
    [model] = _registry_rows(ft_registry, "SELECT trainable_tokens_seen, config FROM models")
    assert json.loads(model["config"])["sft"]["packing"] is True
    assert model["trainable_tokens_seen"] == _trainable_tokens(cli, tiny_base)


def test_ctrl_c_leaves_a_checkpoint_and_resume_finishes_the_run(ft_registry, tiny_base, tmp_path, cli, snapshot,
                                                                 monkeypatch):
    from imitkit.finetune.trainer import STATE_FILE, StopOnSignal

    out = tmp_path / "resumable"
    args = ["finetune", "--snapshot", "identity", "--model", tiny_base, "--output-dir", out, *EPOCH]
    original = StopOnSignal.on_step_end

    def press_ctrl_c_at_step_5(self, targs, state, control, **kwargs):
        if state.global_step == 5:
            os.kill(os.getpid(), signal.SIGINT)  # a real signal through the real handler
        return original(self, targs, state, control, **kwargs)

    monkeypatch.setattr(StopOnSignal, "on_step_end", press_ctrl_c_at_step_5)
    interrupted = cli(*args)
    monkeypatch.undo()
    assert interrupted.code == 130 and "--resume" in interrupted.err
    assert (out / "checkpoint-5" / STATE_FILE).is_file() and not (out / "config.json").exists()
    [run] = _registry_rows(ft_registry, "SELECT status, counts FROM runs WHERE command = 'finetune'")
    assert run["status"] == "interrupted" and json.loads(run["counts"])["steps"] == 5
    assert _registry_rows(ft_registry, "SELECT * FROM models") == []

    blocked = cli(*args)
    assert blocked.code == 1 and "already holds checkpoint-5: add --resume" in blocked.err
    snapshot("other", limit=100)
    other = cli(*["--snapshot" if a == "--snapshot" else "other" if a == "identity" else a for a in args], "--resume")
    assert other.code == 1 and "were trained with snapshot_fingerprint" in other.err

    resumed = cli(*args, "--resume")
    assert resumed.code == 0, resumed
    [model] = _registry_rows(ft_registry, "SELECT * FROM models")
    assert model["global_step"] == 12
    # Steps 1-5 before Ctrl-C and 6-12 after it saw each example once: the same count as one clean epoch.
    assert model["trainable_tokens_seen"] == _trainable_tokens(cli, tiny_base)
    statuses = _registry_rows(ft_registry, "SELECT status FROM runs WHERE command='finetune' ORDER BY started_at")
    assert [r["status"] for r in statuses][0] == "interrupted" and statuses[-1]["status"] == "ok"


def test_two_processes_share_the_epoch_and_record_once(ft_registry, tiny_base, tmp_path, cli):
    # The entry point that `accelerate launch` starts on GPUs, here as two CPU processes over gloo:
    # half the steps, the same trainable tokens (summed over ranks), one registry record.
    import subprocess
    import sys

    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).parent / "torchrun"
    proc = subprocess.run([str(torchrun), "--nproc_per_node", "2", "-m", "imitkit", "--registry", str(ft_registry),
                           "finetune", "--snapshot", "identity", "--model", str(tiny_base), "--output-dir", str(out),
                           *EPOCH, "--use_cpu", "true"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("model saved to") == 1 and proc.stderr.count("ok: ready to train") == 1
    [model] = _registry_rows(ft_registry, "SELECT global_step, trainable_tokens_seen FROM models")
    assert model["global_step"] == 6
    assert len(_registry_rows(ft_registry, "SELECT id FROM runs WHERE command = 'finetune'")) == 1
    assert model["trainable_tokens_seen"] == _trainable_tokens(cli, tiny_base)
