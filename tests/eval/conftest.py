"""Fixtures for the eval tests: a tiny local model and a loopback OpenAI-compatible server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pytest

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


class FakeOpenAI:
    """Answers /v1/chat/completions with ``respond(messages, body) -> str``; records every request."""

    def __init__(self) -> None:
        self.respond: Callable[[list[dict[str, Any]], dict[str, Any]], str] = lambda messages, body: "ok"
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                if not self.path.endswith("/chat/completions"):
                    self.send_error(404)
                    return
                text = fake.respond(body["messages"], body)
                payload = json.dumps({
                    "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def spec(self, model: str) -> str:
        return f"openai:{model}@{self.url}"


@pytest.fixture
def fake_openai():
    fake = FakeOpenAI()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


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
