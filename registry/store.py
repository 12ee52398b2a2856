"""The registry: a directory holding ``registry.duckdb`` (and later ``snapshots/``).

DuckDB allows one writing process per database file. ``Registry.open`` waits a bounded,
configurable time for the lock and then fails with one clear line; a read-only open
of a registry that needs migrating first upgrades it through a short write open.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import duckdb

from imitkit.registry import migrate
from imitkit.registry.errors import QueryError, RegistryError, RegistryLockedError

DEFAULT_DIR = ".imitkit"
DB_FILE = "registry.duckdb"
LOCK_TIMEOUT_ENV = "IMITKIT_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 10.0
MEMORY_ENV = "IMITKIT_DUCKDB_MEMORY"
# DuckDB's default (80% of RAM) lets its page cache grow with the data; a bound keeps
# a million-conversation import under 2 GB. It spills to disk past this, it does not fail.
DEFAULT_MEMORY = "1GB"


def resolve_registry_dir(path: str | os.PathLike | None = None) -> Path:
    """``--registry DIR`` over ``IMITKIT_REGISTRY`` over ``./.imitkit``."""
    chosen = path or os.environ.get("IMITKIT_REGISTRY") or DEFAULT_DIR
    return Path(chosen).expanduser().resolve()


def lock_timeout(value: float | None = None) -> float:
    if value is not None:
        return value
    raw = os.environ.get(LOCK_TIMEOUT_ENV)
    try:
        return float(raw) if raw else DEFAULT_LOCK_TIMEOUT
    except ValueError as e:
        raise RegistryError(f"{LOCK_TIMEOUT_ENV}={raw!r} is not a number of seconds") from e


def _is_lock_error(error: duckdb.Error) -> bool:
    text = str(error).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def _connect(db_path: Path, read_only: bool, timeout: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            config = {"memory_limit": os.environ.get(MEMORY_ENV) or DEFAULT_MEMORY}
            if not read_only:
                # DuckDB leaves long strings (most message texts) uncompressed by default;
                # ZSTD made a 1M-conversation registry several times smaller at similar speed.
                config["force_compression"] = "zstd"
            con = duckdb.connect(str(db_path), read_only=read_only, config=config)
            con.execute("SET enable_progress_bar = false")  # imitkit shows its own progress on stderr
            return con
        except duckdb.Error as e:
            if not _is_lock_error(e):
                raise RegistryError(f"cannot open registry {db_path}: {e}") from e
            if time.monotonic() >= deadline:
                holder = str(e).split("(PID", 1)[-1].split(")")[0].strip() if "(PID" in str(e) else "?"
                raise RegistryLockedError(
                    f"registry {db_path.parent} is in use by another process (PID {holder}); "
                    f"waited {timeout:g}s for its lock. Retry when it finishes, or wait longer "
                    f"with {LOCK_TIMEOUT_ENV}=SECONDS"
                ) from e
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


class Registry:
    """An open registry. Use :meth:`open`; close it (or use ``with``) to release the lock."""

    def __init__(self, root: Path, con: duckdb.DuckDBPyConnection, read_only: bool):
        self.root = root
        self.con = con
        self.read_only = read_only

    # -- opening ---------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | os.PathLike | None = None,
        *,
        read_only: bool = False,
        timeout: float | None = None,
        create: bool = True,
    ) -> "Registry":
        root = resolve_registry_dir(path)
        db_path = root / DB_FILE
        wait = lock_timeout(timeout)
        if not db_path.exists():
            if not create:
                raise RegistryError(f"no registry at {root} (run `imitkit init` or any import first)")
            root.mkdir(parents=True, exist_ok=True)
        if read_only:
            if not db_path.exists():
                cls.open(root, timeout=wait).close()
            con = _connect(db_path, True, wait)
            if migrate.pending(con, str(root)):
                con.close()
                cls.open(root, timeout=wait).close()
                con = _connect(db_path, True, wait)
            return cls(root, con, True)
        con = _connect(db_path, False, wait)
        try:
            migrate.migrate(con, str(root))
            _mark_dead_runs(con)
        except Exception:
            con.close()
            raise
        return cls(root, con, False)

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- paths -----------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.root / DB_FILE

    @property
    def snapshots_dir(self) -> Path:
        return self.root / "snapshots"

    @property
    def schema_version(self) -> int:
        return migrate.current_version(self.con)

    # -- queries ---------------------------------------------------------------------
    def query(self, sql: str, params: list[Any] | None = None) -> duckdb.DuckDBPyRelation | Any:
        """Run SQL written by imitkit itself; user SQL goes through :func:`registry.sql.run_user_query`."""
        try:
            return self.con.execute(sql, params or [])
        except duckdb.Error as e:
            raise QueryError(str(e).splitlines()[0]) from e

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        row = self.query(sql, params).fetchone()
        return row[0] if row else None

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        cursor = self.query(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def transaction(self) -> "_Transaction":
        return _Transaction(self.con)


class _Transaction:
    """``with registry.transaction():`` commits on success and rolls back on any error."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        self.con.execute("BEGIN TRANSACTION")
        return self.con

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.con.execute("COMMIT")
        else:
            self.con.execute("ROLLBACK")


def _mark_dead_runs(con: duckdb.DuckDBPyConnection) -> None:
    # We hold the only write lock, so a run still marked 'running' belongs to a process
    # that died (kill -9, power loss): say so instead of leaving it looking alive.
    con.execute(
        "UPDATE t_run SET status = 'interrupted', error = coalesce(error, 'process ended without closing the run') "
        "WHERE status = 'running'"
    )
