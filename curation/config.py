"""Curation configs: dataclasses with ``help`` metadata, loaded CLI over YAML over defaults.

Each step declares its own ``Config`` dataclass next to its code; :class:`CurationConfig`
holds the pipeline-wide settings and one section per step. Unknown keys are rejected
with the list of valid ones, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from imitkit.curation.errors import ConfigError
from imitkit.configfile import read_yaml_mapping, reject_unknown_keys
from imitkit.registry.records import canonical_json


def opt(default: Any, help: str, choices: tuple | None = None) -> Any:
    """A config field with its help text (and allowed values)."""
    meta = {"help": help, "choices": choices}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass
class PipelineConfig:
    steps: list = opt([], "Steps of the pipeline (canonical order is applied); see `imitkit curate --help`.")
    batch_size: int = opt(5000, "Conversations per batch (and per write transaction).")
    workers: int = opt(2, "Processes for per-text work (signatures, language, patterns) on large inputs.")
    parallel_min: int = opt(20000, "Use worker processes when a step has at least this many conversations to judge.")


def _coerce(value: Any, default: Any, where: str) -> Any:
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be true or false, not {value!r}")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be an integer, not {value!r}")
    if isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where} must be a number, not {value!r}")
    if isinstance(default, list):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list):
            return value
        raise ConfigError(f"{where} must be a list, not {value!r}")
    if isinstance(default, dict):
        if isinstance(value, dict):
            return value
        raise ConfigError(f"{where} must be a mapping, not {value!r}")
    if default is None or isinstance(default, str):
        if value is None or isinstance(value, str):
            return value
        raise ConfigError(f"{where} must be a string, not {value!r}")
    return value


def fill(cls: type, values: dict, where: str) -> Any:
    """Build dataclass ``cls`` from ``values``, rejecting unknown keys and bad types."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a mapping of settings, not {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    reject_unknown_keys(values, fields, where, ConfigError)
    obj = cls()
    for key, value in values.items():
        f = fields[key]
        value = _coerce(value, getattr(obj, key), f"{where}.{key}")
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            raise ConfigError(f"{where}.{key} must be one of {', '.join(map(str, choices))}, not {value!r}")
        setattr(obj, key, value)
    return obj


def fingerprint(values: Any) -> str:
    return hashlib.sha256(canonical_json(values).encode()).hexdigest()[:16]


@dataclasses.dataclass
class CurationConfig:
    pipeline: PipelineConfig
    steps: dict[str, Any]  # step name -> its Config dataclass

    def section(self, name: str) -> Any:
        return self.steps[name]

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self.pipeline)
        for name, cfg in self.steps.items():
            out[name] = dataclasses.asdict(cfg)
        return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> CurationConfig:
    """Defaults, then the YAML file at ``path``, then ``--set key=value`` overrides."""
    from imitkit.curation.steps import DEFAULT_PIPELINE, STEP_NAMES, config_class

    raw: dict = {}
    if path is not None:
        raw = read_yaml_mapping(path, ConfigError)
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE (e.g. near_dedup.threshold=0.7), not {item!r}")
        *parents, leaf = key.strip().split(".")
        node = raw
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {p} is not a section")
        node[leaf] = yaml.safe_load(value)
    pipeline_keys = {f.name for f in dataclasses.fields(PipelineConfig)}
    reject_unknown_keys(raw, sorted(pipeline_keys) + list(STEP_NAMES), "the curation config", ConfigError)
    pipeline = fill(PipelineConfig, {k: raw[k] for k in pipeline_keys if k in raw}, "config")
    if "steps" not in raw:
        pipeline.steps = list(DEFAULT_PIPELINE)
    bad = [s for s in pipeline.steps if s not in STEP_NAMES]
    if bad:
        raise ConfigError(f"unknown step(s) {', '.join(bad)}; valid: {', '.join(STEP_NAMES)}")
    if pipeline.batch_size < 1 or pipeline.workers < 1:
        raise ConfigError("batch_size and workers must be at least 1")
    sections = {name: fill(config_class(name), raw.get(name) or {}, name) for name in STEP_NAMES}
    return CurationConfig(pipeline, sections)


def select_steps(config: CurationConfig, steps: str | None) -> list[str]:
    """The steps to run now (``--steps``), in canonical order.

    Naming an opt-in step that the pipeline lacks adds it to the pipeline, so that
    ``kept`` reflects its verdicts too.
    """
    from imitkit.curation.steps import STEP_NAMES

    if steps is None:
        chosen = list(config.pipeline.steps)
    else:
        chosen = [s.strip() for s in steps.split(",") if s.strip()]
        bad = [s for s in chosen if s not in STEP_NAMES]
        if bad or not chosen:
            raise ConfigError(f"unknown step(s) {', '.join(bad) or '(none given)'}; valid: {', '.join(STEP_NAMES)}")
    config.pipeline.steps = [s for s in STEP_NAMES if s in config.pipeline.steps or s in chosen]
    return [s for s in STEP_NAMES if s in chosen]


def render_config(config: CurationConfig) -> str:
    """The full config as commented YAML (what ``--print-config`` prints)."""
    from imitkit.curation.steps import DEFAULT_PIPELINE, STEP_HELP

    lines = ["# imitkit curation config. Every key is optional; unknown keys are rejected.",
             f"# Default pipeline: {', '.join(DEFAULT_PIPELINE)}; opt-in: split_long, refusals, pii.", ""]
    lines += _render_fields(config.pipeline, "")
    for name, cfg in config.steps.items():
        lines += ["", f"# {name}: {STEP_HELP[name]}", f"{name}:"]
        lines += _render_fields(cfg, "  ")
    return "\n".join(lines) + "\n"


def _render_fields(obj: Any, indent: str) -> list[str]:
    lines = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        note = f.metadata.get("help", "")
        if f.metadata.get("choices"):
            note += f" One of: {', '.join(map(str, f.metadata['choices']))}."
        lines.append(f"{indent}# {note}")
        # JSON is valid YAML and keeps strings like "\n\n" on one line.
        lines.append(f"{indent}{f.name}: {json.dumps(value, ensure_ascii=False)}")
    return lines
