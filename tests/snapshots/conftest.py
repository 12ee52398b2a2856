"""Fixtures for mixtures and snapshots: a populated registry and tokenizers trained in the test."""

from __future__ import annotations

import pytest

from snapshots.helpers import CHATML_GENERATION, populate, train_tokenizer

SOURCES = {"alpha": 300, "beta": 200, "zh": 120}


@pytest.fixture
def mixreg(registry):
    """A registry with three sources (one Chinese); records of two parts each in every source."""
    populate(registry, SOURCES, chinese=("zh",), parts=2)
    return registry


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory):
    return str(train_tokenizer(tmp_path_factory.mktemp("tok_gen"), CHATML_GENERATION))


def three(budget: str = "20k", *extra: str) -> list[str]:
    return ["--budget", budget, "--component", "a=0.5:source = 'alpha'", "--component", "b=0.3:source = 'beta'",
            "--component", "z=0.2:source = 'zh'", *extra]
