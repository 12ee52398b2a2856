"""Helpers for curation tests: put conversations in a registry and run steps on them."""

from __future__ import annotations

import pytest

from imitkit.registry.records import Conversation
from imitkit.registry.runs import recorded_run
from imitkit.registry.writer import ConversationWriter


@pytest.fixture
def add(registry):
    def add_(conversations: list[list[dict]], source: str = "test") -> list[str]:
        with recorded_run(registry, "import", {}) as run:
            writer = ConversationWriter(registry, run, source)
            ids = [writer.add(Conversation(m), "f.json", i) for i, m in enumerate(conversations)]
            writer.flush()
        return ids
    return add_


@pytest.fixture
def curate(registry):
    """Run steps with --set style overrides; returns {step: StepResult}."""
    from imitkit.curation.config import load_config, select_steps
    from imitkit.curation.pipeline import run_pipeline

    def curate_(steps: str | None = None, *overrides: str, rerun: bool = False, pipeline: str | None = None) -> dict:
        sets = list(overrides) + ([f"steps=[{pipeline}]"] if pipeline else [])
        config = load_config(None, sets)
        selected = select_steps(config, steps)
        _, results = run_pipeline(registry, config, selected, rerun=rerun)
        return {r.step: r for r in results}
    return curate_

