"""Named, ordered, transactional schema migrations applied when a registry opens.

Migrations are the files ``registry/migrations/NNNN_name.sql``; their number is the
schema version. Each is applied in its own transaction together with its row in
``schema_migrations``, so a crash mid-migration leaves the previous version intact.
Stages add their tables by adding a file, never by editing an applied one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import duckdb

from imitkit.registry.errors import RegistryError, SchemaTooNewError
from imitkit.registry.runs import utcnow

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    folder = resources.files("imitkit.registry") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RegistryError(f"two migrations share a version number: {versions}")
    return found


def latest_version() -> int:
    migrations = available_migrations()
    return migrations[-1].version if migrations else 0


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchone()[0]
    if not exists:
        return 0
    return con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]


def check_not_newer(con: duckdb.DuckDBPyConnection, path: str) -> int:
    version = current_version(con)
    known = latest_version()
    if version > known:
        raise SchemaTooNewError(
            f"registry {path} has schema version {version}, but this imitkit knows only up to "
            f"{known}: it was written by a newer imitkit; upgrade imitkit to use it"
        )
    return version


def pending(con: duckdb.DuckDBPyConnection, path: str) -> list[Migration]:
    version = check_not_newer(con, path)
    return [m for m in available_migrations() if m.version > version]


def migrate(con: duckdb.DuckDBPyConnection, path: str) -> list[Migration]:
    """Apply every pending migration, each in its own transaction; return those applied."""
    todo = pending(con, path)
    if not todo:
        return []
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    for migration in todo:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(migration.sql)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [migration.version, migration.name, utcnow()],
            )
            con.execute("COMMIT")
        except duckdb.Error as e:
            con.execute("ROLLBACK")
            raise RegistryError(
                f"migration {migration.version:04d}_{migration.name} failed on {path}: {e}"
            ) from e
    return todo
