"""A mixture spec: components (SQL filters with token-budget shares), budget, seed, split.

Specs come from the command line, a YAML file, or both (command line over YAML over
defaults). Everything that can be checked without the registry is checked here; the SQL
of each component is checked against the registry in :mod:`mixtures`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from imitkit.registry.errors import RegistryError
from imitkit.configfile import read_yaml_mapping, reject_unknown_keys

UNITS = ("trainable", "total")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_BUDGET = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmbt]?)$", re.IGNORECASE)
_MULTIPLIER = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}
WEIGHT_TOLERANCE = 1e-6


class MixError(RegistryError):
    """A mixture cannot be built."""


class SpecError(MixError):
    """The mixture spec is invalid; nothing was written."""


@dataclass
class Component:
    label: str = field(metadata={"help": "Name of the component in reports and the `component` column."})
    weight: float = field(default=1.0, metadata={"help": "Share of the token budget (weights sum to 1)."})
    where: str = field(default="TRUE", metadata={"help": "SQL WHERE clause over the `conversations` view."})
    only_kept: bool | None = field(default=None, metadata={"help": "Only kept conversations (default: the spec's)."})

    def as_dict(self, spec_only_kept: bool) -> dict[str, Any]:
        return {"label": self.label, "weight": self.weight, "where": self.where,
                "only_kept": spec_only_kept if self.only_kept is None else self.only_kept}


@dataclass
class MixSpec:
    name: str = field(default="", metadata={"help": "Snapshot name (letters, digits, . _ -)."})
    budget: int | None = field(default=None, metadata={"help": "Token budget: 300k, 1.5M, 150M, or all (None)."})
    unit: str = field(default="trainable", metadata={"help": "Budget unit: trainable (assistant) or total tokens."})
    components: list[Component] = field(default_factory=list, metadata={"help": "The components."})
    seed: int = field(default=0, metadata={"help": "Selection seed: same seed, same registry, same members."})
    eval_fraction: float = field(default=0.0, metadata={"help": "Share of conversations held out as eval."})
    tokenizer: str | None = field(default=None, metadata={"help": "Tokenizer for exact counts (path or hub id)."})
    chat_template: str | None = field(default=None, metadata={"help": "Jinja chat template file for counting."})
    allow_upsample: bool = field(default=False, metadata={"help": "Repeat conversations to fill a share."})
    only_kept: bool = field(default=True, metadata={"help": "Only conversations curation kept."})

    def normalized(self) -> dict[str, Any]:
        """The spec as fingerprinted and stored: no name, no file paths (the template's hash counts)."""
        return {"budget": self.budget, "unit": self.unit, "seed": self.seed, "eval_fraction": self.eval_fraction,
                "allow_upsample": self.allow_upsample, "only_kept": self.only_kept,
                "components": [c.as_dict(self.only_kept) for c in self.components]}

    def validate(self) -> "MixSpec":
        if not _NAME.match(self.name or ""):
            raise SpecError(f"snapshot name {self.name!r} must be letters, digits, '.', '_' or '-' (up to 128)")
        if self.unit not in UNITS:
            raise SpecError(f"unit must be one of {', '.join(UNITS)}, not {self.unit!r}")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise SpecError(f"eval fraction must be in [0, 1), not {self.eval_fraction}")
        if not self.components:
            raise SpecError("a mixture needs at least one component (--component LABEL=WEIGHT:\"SQL\")")
        labels = [c.label for c in self.components]
        for c in self.components:
            if not _LABEL.match(c.label or ""):
                raise SpecError(f"component label {c.label!r} must be letters, digits, '.', '_' or '-'")
            if not isinstance(c.weight, (int, float)) or isinstance(c.weight, bool) or c.weight <= 0:
                raise SpecError(f"component {c.label!r}: weight must be a positive number, not {c.weight!r}")
            if not isinstance(c.where, str) or not c.where.strip():
                raise SpecError(f"component {c.label!r}: the SQL clause is empty")
        if len(set(labels)) != len(labels):
            raise SpecError(f"component labels must be unique: {labels}")
        total = sum(c.weight for c in self.components)
        if self.budget is not None and abs(total - 1.0) > WEIGHT_TOLERANCE:
            shown = " + ".join(f"{c.label}={c.weight:g}" for c in self.components)
            raise SpecError(f"component weights must sum to 1, but {shown} = {total:g}")
        return self


def parse_budget(value: Any) -> int | None:
    """``300k``, ``1.5M``, ``150M``, ``2B``, ``1_000_000`` → tokens; ``all`` → None."""
    if value is None:
        raise SpecError("a budget is required: --budget 10M (or --budget all)")
    if isinstance(value, bool):
        raise SpecError(f"budget must be a number of tokens or 'all', not {value!r}")
    if isinstance(value, (int, float)):
        tokens = int(round(value))
    else:
        text = str(value).strip().replace("_", "").replace(",", "")
        if text.lower() == "all":
            return None
        match = _BUDGET.match(text)
        if not match:
            raise SpecError(f"budget {value!r} is not a token count like 300k, 1.5M, 150M or 'all'")
        tokens = int(round(float(match.group(1)) * _MULTIPLIER[match.group(2).lower()]))
    if tokens <= 0:
        raise SpecError(f"budget must be positive, not {value!r}")
    return tokens


def parse_component(text: str) -> Component:
    """``LABEL=WEIGHT:SQL`` (or ``LABEL=WEIGHT`` for every conversation)."""
    label, sep, rest = text.partition("=")
    if not sep:
        raise SpecError(f"component {text!r} must look like LABEL=WEIGHT:\"SQL WHERE clause\"")
    weight_text, _, where = rest.partition(":")
    try:
        weight = float(weight_text)
    except ValueError as e:
        raise SpecError(f"component {label.strip()!r}: weight {weight_text!r} is not a number") from e
    return Component(label.strip(), weight, where.strip() or "TRUE")


def _component_from_yaml(item: Any, label: str | None = None) -> Component:
    if isinstance(item, str) and label:
        return parse_component(f"{label}={item}")
    if not isinstance(item, dict):
        raise SpecError(f"a component must be a mapping with label, weight and where, not {item!r}")
    reject_unknown_keys(item, [f.name for f in fields(Component)], "a component", SpecError)
    values = dict(item)
    if label is not None:
        values.setdefault("label", label)
    if "label" not in values:
        raise SpecError(f"component {item!r} has no label")
    return Component(**{**values, "label": str(values["label"])})


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML spec file into MixSpec keyword values (not yet validated)."""
    data = read_yaml_mapping(path, SpecError, "spec")
    reject_unknown_keys(data, [f.name for f in fields(MixSpec)], str(path), SpecError)
    raw = data.get("components") or []
    if isinstance(raw, dict):
        data["components"] = [_component_from_yaml(v, str(k)) for k, v in raw.items()]
    elif isinstance(raw, list):
        data["components"] = [_component_from_yaml(v) for v in raw]
    else:
        raise SpecError(f"components in {path} must be a list or a mapping")
    if "budget" in data:
        data["budget"] = parse_budget(data["budget"])
    return data


def build_spec(yaml_path: str | None = None, **cli: Any) -> MixSpec:
    """Command line over YAML over defaults; ``cli`` values that are None were not given."""
    values: dict[str, Any] = load_yaml(yaml_path) if yaml_path else {}
    for key, value in cli.items():
        if value is None or (key == "components" and not value):
            continue
        values[key] = parse_budget(value) if key == "budget" else value
    if "budget" not in values:
        raise SpecError("a budget is required: --budget 10M (or --budget all)")
    try:
        spec = MixSpec(**values)
    except TypeError as e:
        raise SpecError(f"invalid spec: {e}") from e
    for key, kind in (("seed", int), ("eval_fraction", (int, float))):
        if not isinstance(getattr(spec, key), kind) or isinstance(getattr(spec, key), bool):
            raise SpecError(f"{key} must be a number, not {getattr(spec, key)!r}")
    return spec.validate()
