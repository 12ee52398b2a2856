"""Run records: every command that writes to the registry is one row in ``runs``."""

from __future__ import annotations

import json
import secrets
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from imitkit.__version__ import __version__


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@lru_cache(maxsize=1)
def code_version() -> str:
    """imitkit's version, plus the git commit when running from a checkout."""
    repo = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "describe", "--always", "--dirty"],
            capture_output=True, text=True, timeout=5, check=False,
        )
        if out.returncode == 0 and out.stdout.strip():
            return f"{__version__}+{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    return __version__


def new_run_id() -> str:
    return "r:" + utcnow().strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


@dataclass
class Run:
    id: str
    command: str
    counts: dict[str, Any] = field(default_factory=dict)

    def add(self, **counts: int) -> None:
        for key, value in counts.items():
            self.counts[key] = self.counts.get(key, 0) + value


@contextmanager
def recorded_run(registry: Any, command: str, arguments: dict[str, Any]) -> Iterator[Run]:
    """Record a run: 'running' at start, then 'ok', 'failed' or 'interrupted' with its counts.

    The start row is committed before the work so that a killed process leaves a trace,
    which the next write open marks 'interrupted'.
    """
    run = Run(new_run_id(), command)
    con = registry.con
    con.execute(
        "INSERT INTO t_run (id, command, arguments, code_version, started_at, status) VALUES (?, ?, ?, ?, ?, 'running')",
        [run.id, command, json.dumps(arguments, default=str), code_version(), utcnow()],
    )
    status, error = "ok", None
    try:
        yield run
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted by the user"
        raise
    except BaseException as e:  # recorded, then re-raised unchanged
        status, error = "failed", f"{type(e).__name__}: {e}"[:2000]
        raise
    finally:
        con.execute(
            "UPDATE t_run SET ended_at = ?, status = ?, counts = ?, error = ? WHERE id = ?",
            [utcnow(), status, json.dumps(run.counts), error, run.id],
        )
