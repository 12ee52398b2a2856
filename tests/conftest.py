"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Loopback fakes of outside services (OpenAI-compatible API), shared by every test package.
sys.path.insert(0, str(Path(__file__).resolve().parent / "fakes"))
SHARED_DATA = Path(os.environ.get("IMITKIT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    # No test may see a user's registry, keys or the network's hubs.
    monkeypatch.delenv("IMITKIT_REGISTRY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("IMITKIT_LOCK_TIMEOUT", "2")


@pytest.fixture
def registry_dir(tmp_path) -> Path:
    return tmp_path / "registry"


@pytest.fixture
def registry(registry_dir):
    """A fresh, migrated registry in a temp directory."""
    from imitkit.registry.store import Registry

    reg = Registry.open(registry_dir)
    yield reg
    reg.close()


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``; tests that need it are skipped where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


class CliResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out[-2000:]!r}, err={self.err[-2000:]!r})"


@pytest.fixture
def cli(capsys, registry_dir):
    """Run ``imitkit ARGS`` in-process against the test registry; returns code, stdout, stderr."""
    from imitkit.cli import main

    def run(*args: str, registry: Path | None = registry_dir) -> CliResult:
        argv = (["--registry", str(registry)] if registry is not None else []) + [str(a) for a in args]
        capsys.readouterr()
        code = main(argv)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def imitkit_exe() -> list[str]:
    """Command prefix to run the CLI in a subprocess (same interpreter)."""
    return [sys.executable, "-m", "imitkit"]
