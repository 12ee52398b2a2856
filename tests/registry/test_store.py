"""The store: migrations, version check, lock handling, read-only SQL."""

import subprocess
import sys
import textwrap

import duckdb
import pytest

from imitkit.registry import migrate
from imitkit.registry.errors import QueryError, ReadOnlyQueryError, RegistryLockedError, SchemaTooNewError
from imitkit.registry.sql import run_user_query
from imitkit.registry.store import Registry

STABLE_COLUMNS = {
    "conversations": ["id", "source", "origin", "teacher_model", "messages", "n_turns", "n_chars", "lang", "kept",
                      "created_at"],
    "occurrences": ["conversation_id", "source", "file", "record_index", "run_id"],
    "sources": ["name", "format", "license", "origin", "notes"],
    "runs": ["command", "arguments", "code_version", "started_at", "ended_at", "status", "counts"],
    "quarantine": ["run_id", "file", "record_index", "line", "reason", "excerpt"],
}


def test_blank_registry_is_migrated_to_latest_with_stable_views(registry):
    assert registry.schema_version == migrate.latest_version()
    applied = registry.rows("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in applied] == [m.version for m in migrate.available_migrations()]
    for view, columns in STABLE_COLUMNS.items():
        have = [r[0] for r in registry.con.execute(f"DESCRIBE {view}").fetchall()]
        assert set(columns) <= set(have), (view, have)
    # An empty registry answers queries with zero rows, and 'kept' defaults to true.
    assert registry.scalar("SELECT count(*) FROM conversations") == 0


def test_reopen_applies_nothing_and_newer_schema_is_refused(registry_dir):
    Registry.open(registry_dir).close()
    con = duckdb.connect(str(registry_dir / "registry.duckdb"))
    assert migrate.migrate(con, "x") == []
    con.execute("INSERT INTO schema_migrations VALUES (9999, 'from_the_future', now()::TIMESTAMP)")
    con.close()
    with pytest.raises(SchemaTooNewError, match="newer imitkit"):
        Registry.open(registry_dir)
    with pytest.raises(SchemaTooNewError):
        Registry.open(registry_dir, read_only=True)


def test_failed_migration_rolls_back(registry_dir, monkeypatch):
    Registry.open(registry_dir).close()
    real = migrate.available_migrations()
    bad = migrate.Migration(9000, "broken", "CREATE TABLE half_done (x INT); SELECT * FROM no_such_table;")
    monkeypatch.setattr(migrate, "available_migrations", lambda: [*real, bad])
    with pytest.raises(Exception, match="9000_broken"):
        Registry.open(registry_dir)
    monkeypatch.undo()
    with Registry.open(registry_dir) as reg:
        assert reg.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'half_done'") == 0
        assert reg.schema_version == migrate.latest_version()


def test_read_only_sql_refuses_writes_and_file_access(registry):
    for statement in ["DELETE FROM t_run", "INSERT INTO t_run VALUES (1)", "DROP VIEW conversations",
                      "COPY (SELECT 1) TO 'x.csv'", "ATTACH 'other.db'", "CREATE TABLE x (a INT)",
                      "SELECT 1; DELETE FROM t_run", "INSTALL httpfs"]:
        with pytest.raises(ReadOnlyQueryError, match="read-only"):
            run_user_query(registry.con, statement)
    with pytest.raises(QueryError, match="parse"):
        run_user_query(registry.con, "SELEC 1")
    with pytest.raises(QueryError):
        run_user_query(registry.con, "SELECT * FROM no_such_view")
    columns, rows = run_user_query(registry.con, "SELECT 1 AS a, 'x' AS b")
    assert columns == ["a", "b"] and rows == [(1, "x")]


def test_second_writer_gets_a_one_line_lock_error(registry_dir, tmp_path, imitkit_exe):
    Registry.open(registry_dir).close()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from imitkit.registry.store import Registry
        reg = Registry.open({str(registry_dir)!r})
        print("locked", flush=True)
        time.sleep(30)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RegistryLockedError, match="in use by another process.*waited 0.5s"):
            Registry.open(registry_dir, timeout=0.5)
        out = subprocess.run([*imitkit_exe, "--registry", str(registry_dir), "init"], capture_output=True,
                             text=True, env={**__import__("os").environ, "IMITKIT_LOCK_TIMEOUT": "0.3"})
        assert out.returncode == 1
        assert out.stderr.count("\n") == 1 and out.stderr.startswith("Error: registry")
        assert "Traceback" not in out.stderr
    finally:
        holder.kill()
        holder.wait()
    Registry.open(registry_dir, timeout=5).close()  # free again once the holder is gone


def test_dead_runs_are_marked_interrupted(registry_dir):
    with Registry.open(registry_dir) as reg:
        reg.con.execute("INSERT INTO t_run (id, command, started_at, status) VALUES ('r:x', 'import', now()::TIMESTAMP, 'running')")
    with Registry.open(registry_dir) as reg:
        assert reg.scalar("SELECT status FROM runs WHERE id = 'r:x'") == "interrupted"
