"""``imitkit finetune``: TRL SFT on a registry snapshot, with a check pass, lineage and resume.

Modules: ``config`` (settings from CLI, YAML and defaults; ``coerce`` types them), ``snapshot`` (reading a snapshot),
``template`` (choosing the chat template), ``masking`` (tokens, labels and the mask oracle),
``check`` (the pre-flight report), ``trainer`` (the TRL trainer with token counting and
interrupt handling), ``lineage`` (model card and registry record), ``run`` (the whole flow),
``cli`` (the click command). ``imitkit --help`` imports none of them; torch, transformers
and TRL load only when the command runs.
"""
