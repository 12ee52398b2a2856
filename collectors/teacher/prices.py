"""The price table: USD per million input/output tokens per model, batch at a discount."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from imitkit.collectors.teacher.errors import ConfigError

PRICES_ENV = "IMITKIT_PRICES"


@dataclass(frozen=True)
class Price:
    input: float  # USD per 1M prompt tokens
    output: float  # USD per 1M completion tokens
    known: bool = True

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1e6


class PriceTable:
    def __init__(self, models: dict[str, Price], batch_discount: float = 0.5):
        self.models = models
        self.batch_discount = batch_discount

    @classmethod
    def load(cls, override: str | os.PathLike | None = None) -> "PriceTable":
        """The packaged table, updated by ``override`` (or ``$IMITKIT_PRICES``)."""
        base = yaml.safe_load(resources.files("imitkit.collectors.teacher").joinpath("prices.yaml").read_text())
        table = cls._parse(base, "the packaged prices.yaml")
        path = override or os.environ.get(PRICES_ENV)
        if path:
            try:
                raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as e:
                raise ConfigError(f"cannot read price table {path}: {e}") from e
            extra = cls._parse(raw, str(path))
            table.models.update(extra.models)
            if "batch_discount" in raw:
                table.batch_discount = extra.batch_discount
        return table

    @classmethod
    def _parse(cls, raw: dict, where: str) -> "PriceTable":
        if not isinstance(raw, dict) or set(raw) - {"models", "batch_discount"}:
            raise ConfigError(f"{where}: expected keys 'models' and 'batch_discount'")
        models = {}
        for name, entry in (raw.get("models") or {}).items():
            if not isinstance(entry, dict) or set(entry) != {"input", "output"}:
                raise ConfigError(f"{where}: model {name!r} needs exactly 'input' and 'output' (USD per 1M tokens)")
            models[str(name)] = Price(float(entry["input"]), float(entry["output"]))
        return cls(models, float(raw.get("batch_discount", 0.5)))

    def price(self, model: str, batch: bool = False) -> Price:
        found = self.models.get(model)
        if found is None:
            prefixes = [name for name in self.models if model.startswith(name)]
            found = self.models[max(prefixes, key=len)] if prefixes else Price(0.0, 0.0, known=False)
        if batch:
            return Price(found.input * self.batch_discount, found.output * self.batch_discount, found.known)
        return found
