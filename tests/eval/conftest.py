"""Fixtures for the eval tests: a tiny local model and a loopback OpenAI-compatible server."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from fake_openai import FakeOpenAI

CORPUS = [
    "Q: who wrote hamlet?\nA: William Shakespeare\n\n",
    "The following are multiple choice questions (with answers) about anatomy.\n\n",
    "A. one\nB. two\nC. three\nD. four\nAnswer: A\n\n",
    "def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n    return a + b\n",
    "<|user|>\nWhat is the capital of France?\n<|assistant|>\nThe capital of France is **Paris**.\n",
    "- first item\n- second item\n1. numbered\n",
]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A 2-layer Llama with a BPE tokenizer trained here: nothing is downloaded."""
    from imitkit.finetune.tiny import build_tiny_llama

    folder = tmp_path_factory.mktemp("tiny-llama")
    build_tiny_llama(folder, CORPUS * 50, vocab_size=600, hidden_size=32, layers=2, heads=4, kv_heads=2,
                     intermediate_size=64, max_positions=1024)
    return folder


class EvalFake(FakeOpenAI):
    """The shared loopback API, answering through ``respond(messages, body) -> str``.

    Stands in for an API model and for the judge; ``bodies`` holds every request sent.
    """

    def __init__(self) -> None:
        super().__init__(responder=lambda body, _sample: self.respond(body["messages"], body))
        self.respond: Callable[[list[dict[str, Any]], dict[str, Any]], str] = lambda messages, body: "ok"

    def spec(self, model: str) -> str:
        return f"openai:{model}@{self.base_url}"


@pytest.fixture
def fake_openai():
    with EvalFake() as fake:
        yield fake


@pytest.fixture
def write_heldout() -> Callable[..., Path]:
    return _write_heldout


def _write_heldout(path: Path, n: int = 4) -> Path:
    """A small eval split in the snapshot layout: messages structs plus the usual columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"id": f"c:{k}", "messages": [
        {"role": "user", "content": f"Question {k}: what is {k} plus {k}?"},
        {"role": "assistant", "content": f"Here is the answer:\n- {k} + {k} = {2 * k}\n\n**Result:** {2 * k}"}],
        "source": "test", "origin": "teacher", "teacher_model": "teacher", "component": "main",
        "n_tokens": 20, "n_trainable_tokens": 10} for k in range(n)]
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path
