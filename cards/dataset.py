"""The dataset card of a snapshot: ``huggingface_hub.DatasetCard`` filled from its manifest."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

TEMPLATE = "dataset_card.md"
_SIZES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
          (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]
# SPDX ids as the Hub spells them; anything else becomes "other".
_HUB_LICENSES = {"apache-2.0", "mit", "cc-by-4.0", "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0",
                 "cc-by-nc-nd-4.0", "cc0-1.0", "odc-by", "odbl", "gpl-3.0", "lgpl-3.0", "bsd-3-clause", "llama2",
                 "llama3", "openrail", "unknown", "other"}


def size_category(n: int) -> str:
    return next((label for limit, label in _SIZES if n < limit), "n>1T")


def hub_license(licenses: list[str | None]) -> str:
    ids = {(lic or "unknown").strip().lower() for lic in licenses} or {"unknown"}
    if len(ids) == 1:
        only = ids.pop()
        return only if only in _HUB_LICENSES else "other"
    return "other"


def card_data(manifest: dict[str, Any]) -> Any:
    from huggingface_hub import DatasetCardData

    stats = manifest["statistics"]
    langs = sorted({lang.split("-")[0].split("_")[0].lower() for lang in stats["languages"] if lang != "unknown"})
    license_id = hub_license([s.get("license") for s in manifest["sources"]])
    extra = {}
    if license_id == "other":
        extra["license_name"] = "mixed-source-licenses"
        extra["license_details"] = "; ".join(f"{s['name']}: {s.get('license') or 'unknown'}" for s in manifest["sources"])
    return DatasetCardData(
        pretty_name=manifest["name"],
        license=license_id,
        language=langs or None,
        task_categories=["text-generation"],
        size_categories=[size_category(stats["conversations"])],
        tags=["imitation", "synthetic", "chat", "sft", "imitkit"],
        configs=[{"config_name": "default",
                  "data_files": [{"split": split, "path": info["file"]} for split, info in manifest["splits"].items()]}],
        imitkit_fingerprint=manifest["fingerprint"],
        **extra,
    )


def _budget_text(budget: int | None) -> str:
    if budget is None:
        return "all matching"
    for div, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if budget >= div:
            return f"{budget / div:g}{suffix}"
    return str(budget)


def render_card(manifest: dict[str, Any], load_path: str | None = None) -> str:
    """The card's text; ``load_path`` is what ``load_dataset`` is shown with (a hub repo or the folder)."""
    from huggingface_hub import DatasetCard

    template = resources.files("imitkit.cards") / TEMPLATE
    totals = {k: sum(s[k] for s in manifest["splits"].values()) for k in ("conversations", "tokens", "trainable_tokens")}
    template_info = manifest.get("chat_template") or {}
    card = DatasetCard.from_template(
        card_data(manifest), template_str=template.read_text(encoding="utf-8"),
        name=manifest["name"], **totals, exact=manifest["token_counts_exact"],
        token_method=manifest["token_counts"].get("method", ""), tokenizer=manifest.get("tokenizer"),
        template_sha256=template_info.get("sha256", ""), trainable_method=template_info.get("trainable_method", ""),
        fingerprint=manifest["fingerprint"], seed=manifest["seed"], budget_text=_budget_text(manifest["budget"]),
        unit=manifest["unit"], code_version=manifest["code_version"], created_at=manifest["created_at"],
        teacher_models=manifest["statistics"]["teacher_models"], splits=manifest["splits"],
        components=manifest["components"], sources=manifest["sources"], curation=manifest["curation"],
        statistics=manifest["statistics"], contamination=manifest["contamination"],
        load_path=load_path or f"path/to/snapshots/{manifest['name']}",
        spec_json=json.dumps(manifest["spec"], indent=2, ensure_ascii=False),
    )
    return str(card)
