"""``imitkit finetune``: the click command. Heavy libraries load only when it runs."""

from __future__ import annotations

import click

from imitkit.clikit import print_json, print_table, registry_dir, registry_option, stderr_console


@click.command("finetune", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--snapshot", metavar="NAME", help="Snapshot to train on (see `imitkit mix`).")
@click.option("--model", metavar="PATH_OR_ID", help="Base model: a local directory or a Hub id.")
@click.option("--config", "config_path", metavar="FILE", help="YAML file of settings (imitkit, SFTConfig, ModelConfig).")
@click.option("--output-dir", metavar="DIR", help="Where checkpoints and the model go (default <registry>/models/SNAPSHOT--MODEL).")
@click.option("--chat-template", metavar="FILE", help="A .jinja chat template with {% generation %} markers.")
@click.option("--tokenizer", metavar="PATH_OR_ID", help="Tokenizer (default: the model's).")
@click.option("--lora", is_flag=True, default=None, help="Train a LoRA adapter (peft) instead of every weight.")
@click.option("--packing", is_flag=True, default=None, help="Pack examples into max_length blocks (TRL BFD packing).")
@click.option("--resume", is_flag=True, default=None, help="Continue from the last checkpoint in the output directory.")
@click.option("--check", "check_only", is_flag=True, help="Only run the check pass: tokenize, count, validate masks.")
@click.option("--json", "as_json", is_flag=True, help="With --check: also print the report as JSON on stdout.")
@click.option("--list-settings", is_flag=True, help="List every setting accepted as --name value or in --config.")
@registry_option
@click.pass_context
def finetune(ctx: click.Context, snapshot: str | None, model: str | None, config_path: str | None,
             output_dir: str | None, chat_template: str | None, tokenizer: str | None, lora: bool | None,
             packing: bool | None, resume: bool | None, check_only: bool, as_json: bool, list_settings: bool) -> None:
    """Supervised fine-tuning (TRL SFTTrainer) on a registry snapshot.

    Loss is on the assistant's turns only by default. A check pass runs first and refuses to
    train when examples would silently teach nothing. Any TRL SFTConfig or ModelConfig field
    is accepted as --name value (e.g. --learning_rate 2e-5 --max_length 2048 --lora_r 16);
    CLI over --config YAML over defaults. Ctrl-C saves a checkpoint; --resume continues it.
    """
    from imitkit.finetune.config import load_settings

    if list_settings:
        _list_settings()
        return
    cli_values = {"snapshot": snapshot, "model": model, "output_dir": output_dir, "chat_template": chat_template,
                  "tokenizer": tokenizer, "lora": lora, "packing": packing, "resume": resume}
    settings = load_settings(cli_values, config_path, list(ctx.args))
    from imitkit.finetune import run
    from imitkit.registry.store import resolve_registry_dir

    root = resolve_registry_dir(registry_dir(ctx))
    console = stderr_console()
    if check_only:
        report = run.check_only(settings, root, console)
        if as_json:
            print_json(report.to_dict())
        if report.problems():
            from imitkit.finetune.errors import CheckFailedError

            raise CheckFailedError("check failed: " + "; ".join(report.problems()))
        return
    arguments = {"config": config_path, **settings.given()}
    outcome, run_id = run.finetune(settings, root, console, arguments)
    if run_id is not None:
        click.echo(f"model saved to {outcome.model_dir}: {outcome.global_step} steps, "
                   f"{outcome.trainable_tokens_seen:,} trainable tokens seen (run {run_id})")


def _list_settings() -> None:
    import dataclasses

    from imitkit.finetune.config import SFT_DEFAULTS, valid_fields

    rows = []
    for group, fields in valid_fields().items():
        for name, (f, _hint) in sorted(fields.items()):
            default = SFT_DEFAULTS.get(name, f.default) if group == "SFTConfig" else f.default
            default = None if default is dataclasses.MISSING else default
            rows.append((name, group, repr(default), (f.metadata.get("help") or "").split(". ")[0]))
    print_table(["setting", "from", "default", "help"], rows, max_width=90)
