"""Fixtures for finetune tests: a tiny Llama-style base model with a tokenizer trained here, and a
registry holding real ShareGPT conversations (FastChat's dummy set), copied fresh for each test."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from snapshot_fixture import import_sharegpt, write_snapshot  # noqa: E402

# As in tests/conftest.py; needed here by session-scoped fixtures.
REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("IMITKIT_SHARED_DATA", REPO.parent / "shared" / "data"))
FASTCHAT = SHARED_DATA / "sharegpt" / "fastchat" / "dummy_conversation.json"
FAST_TRAINING = ["--max_steps", "6", "--per_device_train_batch_size", "4", "--learning_rate", "3e-3",
                 "--logging_steps", "1", "--gradient_checkpointing", "false", "--max_length", "256",
                 "--save_strategy", "no", "--disable_tqdm", "true", "--seed", "0"]


@pytest.fixture(scope="session", autouse=True)
def _one_share_of_the_cores():
    # Under xdist, each worker's torch would start one thread per core: split the cores instead.
    import torch

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def _need_data() -> None:
    if not FASTCHAT.is_file():
        pytest.skip(f"shared data not found at {FASTCHAT}")


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """A 2-layer, 64-wide Llama with a byte-level BPE tokenizer trained on the real conversations."""
    _need_data()
    from imitkit.finetune.tiny import build_tiny_llama

    texts = [turn["value"] for record in json.loads(FASTCHAT.read_text()) for turn in record["conversations"]]
    texts.append("A chat between a curious user and an artificial intelligence assistant. USER: ASSISTANT:")
    folder = tmp_path_factory.mktemp("tiny-llama")
    build_tiny_llama(folder, texts, vocab_size=512, hidden_size=64, layers=2, heads=4, kv_heads=2,
                     intermediate_size=128, max_positions=512)
    return folder


@pytest.fixture(scope="session")
def _imported_registry(tmp_path_factory) -> Path:
    _need_data()
    folder = tmp_path_factory.mktemp("ft-registry") / "registry"
    import_sharegpt(folder, FASTCHAT, source="fc")
    write_snapshot(folder, "identity")
    return folder


@pytest.fixture
def ft_registry(_imported_registry, registry_dir) -> Path:
    """This test's own copy of a registry with the real conversations and snapshot ``identity``."""
    shutil.copytree(_imported_registry, registry_dir)
    return registry_dir


@pytest.fixture
def snapshot(ft_registry):
    """``snapshot(name, **write_snapshot_kwargs)`` writes another snapshot into the test's registry."""
    return lambda name, **kwargs: write_snapshot(ft_registry, name, **kwargs)
