"""Every top-level command: name -> ("module:attribute", one-line help).

The CLI imports a command's module only when that command runs, so ``imitkit --help``
stays instant and never pulls in torch or transformers. Stages add their commands here.
"""

COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("imitkit.registry.cli:init", "Create a registry (or upgrade an existing one)."),
    "import": ("imitkit.collectors.cli:import_cmd", "Import chat dumps (ShareGPT, HC3, Alpaca, messages, OASST, hf:)."),
    "sql": ("imitkit.registry.cli:sql", "Run a read-only SQL query on the registry."),
    "stats": ("imitkit.registry.cli:stats", "Counts of conversations, turns and characters."),
    "show": ("imitkit.registry.cli:show", "Show one conversation with its provenance."),
    "sources": ("imitkit.registry.cli:sources", "List sources with licenses and counts."),
    "quarantine": ("imitkit.registry.cli:quarantine", "List records that could not be imported, and why."),
    "runs": ("imitkit.registry.cli:runs", "List the commands that wrote to the registry."),
    "evalset": ("imitkit.registry.evalset_cli:evalset", "Register eval sets for decontamination and eval."),
    # Stages add their commands below, one line each.
    "teacher": ("imitkit.collectors.teacher.cli:teacher", "Answer or synthesize prompts with a teacher model (OpenAI-compatible API, Batch API)."),
    "eval": ("imitkit.eval.cli:eval_group", "Evaluate models (NQ, MMLU, HumanEval, held-out, judge) and report the imitation gap."),
    "finetune": ("imitkit.finetune.cli:finetune", "Fine-tune a model on a snapshot (TRL SFT, assistant-only loss, LoRA, resume)."),
    "tokens": ("imitkit.registry.mix_cli:tokens", "Count tokens with a tokenizer (cached per conversation), or approximately."),
    "mix": ("imitkit.registry.mix_cli:mix", "Build a token-budgeted mixture by SQL components and write it as a snapshot."),
    "snapshot": ("imitkit.registry.snapshot_cli:snapshot", "List, show, verify, diff and export immutable snapshots."),
    "publish": ("imitkit.registry.snapshot_cli:publish", "Publish a snapshot with its dataset card to the Hugging Face Hub."),
    "curate": ("imitkit.curation.cli:curate", "Curate conversations (dedup, language, leaks, decontamination) with stored verdicts."),
    "rejects": ("imitkit.curation.cli:rejects", "Show conversations a curation step dropped, beside what they duplicated or matched."),
    "sweep": ("imitkit.eval.sweep_cli:sweep", "Run the scaling experiment: budgets x base models, fine-tune, eval, report."),
}
