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
}
