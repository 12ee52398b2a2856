"""Fixtures for teacher tests: a loopback OpenAI-compatible server and prompt files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI


@pytest.fixture
def fake_openai():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def prompts_file(tmp_path):
    def make(texts: list[str], name: str = "prompts.jsonl", field: str = "prompt") -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps({field: t}) + "\n" for t in texts), encoding="utf-8")
        return path

    return make


@pytest.fixture
def fast_retry() -> list[str]:
    """Options that keep retries quick in tests."""
    return ["--retry-base-delay", "0.01", "--timeout", "2"]
