"""Options of ``teacher answer``: a dataclass with help text; CLI over YAML (``--config``) over defaults."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


from imitkit.collectors.teacher.errors import ConfigError
from imitkit.configfile import read_yaml_mapping, reject_unknown_keys


def _opt(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass
class AnswerOptions:
    prompts: str | None = _opt(None, "File, `sql:QUERY`, `synth:TASK` or registry source name.")
    model: str | None = _opt(None, "Teacher model name, as the API knows it.")
    base_url: str | None = _opt(None, "OpenAI-compatible endpoint (default: the OpenAI API).")
    api_key_env: str = _opt("OPENAI_API_KEY", "Environment variable holding the API key.")
    source: str | None = _opt(None, "Registry source for the answers (default teacher:MODEL).")
    text_field: str | None = _opt(None, "Field of JSON prompts holding the text.")
    system: str | None = _opt(None, "System message sent before each prompt.")
    temperature: float | None = _opt(None, "Sampling temperature.")
    top_p: float | None = _opt(None, "Nucleus sampling.")
    max_tokens: int | None = _opt(None, "Answer token limit per sample.")
    seed: int | None = _opt(None, "Sampling seed, where the server supports it.")
    samples: int = _opt(1, "Answers per prompt (sent as `n`).")
    concurrency: int = _opt(16, "Requests in flight at once.")
    workers: int | None = _opt(None, "Processes sending requests (default: 1, or one per core at "
                                     "--concurrency 64 and above).")
    rpm: float | None = _opt(None, "Requests per minute limit.")
    tpm: float | None = _opt(None, "Tokens per minute limit (prompt + max answer tokens).")
    budget_usd: float | None = _opt(None, "Stop before this run could spend more than this.")
    timeout: float = _opt(60.0, "Seconds before a request times out (then retried).")
    max_attempts: int = _opt(6, "Attempts per request for retryable errors.")
    retry_base_delay: float = _opt(1.0, "First backoff delay in seconds (doubles each retry).")
    prices: str | None = _opt(None, "Price table YAML overriding the packaged one.")
    refresh: bool = _opt(False, "Send requests even when already answered.")
    commit_rows: int = _opt(512, "Answers per registry transaction (they are journaled at once).")
    commit_seconds: float = _opt(1.0, "Longest wait before journaled answers are committed.")
    batch_max_bytes: int = _opt(95_000_000, "Batch API input file size limit (the API allows 100 MB).")

    def worker_count(self) -> int:
        from imitkit.collectors.teacher.workers import default_workers

        return self.workers or default_workers(self.concurrency)

    def params(self) -> dict[str, Any]:
        """The sampling parameters that are part of each request (and its fingerprint)."""
        named = {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens,
                 "seed": self.seed}
        return {k: v for k, v in named.items() if v is not None}


def load_options(config_path: str | None, cli_values: dict[str, Any]) -> AnswerOptions:
    """Defaults, then the YAML file, then options given on the command line (not None)."""
    valid = {f.name for f in fields(AnswerOptions)}
    merged: dict[str, Any] = {}
    if config_path:
        raw = read_yaml_mapping(config_path, ConfigError)
        raw = {str(k).replace("-", "_"): v for k, v in raw.items()}
        reject_unknown_keys(raw, sorted(valid), config_path, ConfigError)
        merged.update(raw)
    merged.update({k: v for k, v in cli_values.items() if v is not None and k in valid})
    options = AnswerOptions(**merged)
    if not options.prompts or not options.model:
        raise ConfigError("--prompts and --model are required (on the command line or in --config)")
    if options.samples < 1 or options.concurrency < 1 or (options.workers is not None and options.workers < 1):
        raise ConfigError("--samples, --concurrency and --workers must be at least 1")
    return options
