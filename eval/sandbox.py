"""Run untrusted generated code: one process per program, contained.

Each program runs in a fresh process group and session (``start_new_session``) in a
throwaway directory, under RLIMIT_AS/CPU/FSIZE/NPROC, with no network where a private
network namespace can be made (see ``sandbox_runner``). The harness waits with a
wall-clock timeout and then kills the whole process group, so a sample that hangs,
forks or eats memory costs at most its timeout. Programs run in parallel on all cores.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from imitkit.eval.errors import SandboxError

RUNNER = Path(__file__).with_name("sandbox_runner.py")
STDERR_TAIL = 2000


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    memory_mb: int = 1024
    nproc: int = 64
    fsize_mb: int = 16

    @property
    def cpu_s(self) -> int:
        return int(math.ceil(self.timeout_s)) + 1


@dataclass
class Outcome:
    passed: bool
    status: str  # passed | failed | timed out
    reason: str  # the last line of stderr, or why it was stopped
    seconds: float
    network_isolated: bool | None = None


def run_program(source: str, limits: Limits = Limits()) -> Outcome:
    workdir = tempfile.mkdtemp(prefix="imitkit-sandbox-")
    start = time.monotonic()
    try:
        program = Path(workdir, "program.py")
        program.write_text(source, encoding="utf-8")
        os.chmod(workdir, 0o755)
        program.chmod(0o644)
        args = [sys.executable, "-I", str(RUNNER), str(program), str(limits.memory_mb), str(limits.cpu_s),
                str(limits.nproc), str(limits.fsize_mb)]
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": workdir,
               "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
        with open(Path(workdir, ".stdout"), "wb") as out, open(Path(workdir, ".stderr"), "wb") as err:
            try:
                proc = subprocess.Popen(args, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=err, start_new_session=True)
            except OSError as e:
                raise SandboxError(f"cannot start the sandbox interpreter {sys.executable}: {e}") from e
            timed_out = False
            try:
                proc.wait(timeout=limits.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                _kill_group(proc)  # also kills children a finished program left behind
        seconds = time.monotonic() - start
        isolated = _read_marker(Path(workdir, ".sandbox"))
        if timed_out:
            return Outcome(False, "timed out", f"killed after {limits.timeout_s:g}s", seconds, isolated)
        if proc.returncode == 0:
            return Outcome(True, "passed", "", seconds, isolated)
        return Outcome(False, "failed", _reason(Path(workdir, ".stderr"), proc.returncode), seconds, isolated)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_many(sources: Sequence[str], limits: Limits = Limits(), workers: int | None = None,
             on_done: Callable[[int], None] | None = None) -> list[Outcome]:
    """Run every program, ``workers`` at a time (default: all cores); results keep input order."""
    workers = max(1, workers or os.cpu_count() or 1)
    results: list[Outcome | None] = [None] * len(sources)

    def one(index: int) -> None:
        results[index] = run_program(sources[index], limits)
        if on_done:
            on_done(index)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(one, i) for i in range(len(sources))]:
            future.result()
    return results  # type: ignore[return-value]


def _kill_group(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """SIGKILL the program's process group, reap it, and wait (bounded) until every member is gone.

    The sandbox user's RLIMIT_NPROC counts processes that are dying but not yet reaped, so
    returning early would let a fork bomb's remains make the *next* program's fork fail.
    """
    def kill() -> bool:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    kill()
    proc.wait()  # the leader is our child: until it is reaped, its group exists
    deadline = time.monotonic() + grace_s
    while kill() and time.monotonic() < deadline:
        time.sleep(0.01)


def _read_marker(path: Path) -> bool | None:
    try:
        return bool(json.loads(path.read_text())["network_isolated"])
    except (OSError, ValueError, KeyError):
        return None  # the program never started (e.g. killed while loading)


def _reason(stderr: Path, returncode: int) -> str:
    try:
        with open(stderr, "rb") as f:
            f.seek(max(0, stderr.stat().st_size - STDERR_TAIL))
            lines = f.read().decode("utf-8", errors="replace").strip().splitlines()
    except OSError:
        lines = []
    if lines:
        return lines[-1][:300]
    if returncode < 0:
        return f"killed by signal {signal.Signals(-returncode).name}"
    return f"exit status {returncode}"
