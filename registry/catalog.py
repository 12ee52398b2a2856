"""Sources: named origins of conversations, with format, license and notes."""

from __future__ import annotations

from typing import Any

from imitkit.registry.runs import utcnow


def upsert_source(
    registry: Any,
    name: str,
    *,
    format: str | None = None,
    license: str | None = None,
    origin: str | None = None,
    teacher_model: str | None = None,
    notes: str | None = None,
) -> None:
    """Create a source, or fill in fields given now; fields not given keep their value."""
    now = utcnow()
    registry.con.execute(
        """
        INSERT INTO t_source (name, format, license, origin, teacher_model, notes, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
        ON CONFLICT (name) DO UPDATE SET
            format = coalesce(excluded.format, t_source.format),
            license = coalesce(excluded.license, t_source.license),
            origin = coalesce(excluded.origin, t_source.origin),
            teacher_model = coalesce(excluded.teacher_model, t_source.teacher_model),
            notes = coalesce(excluded.notes, t_source.notes),
            updated_at = excluded.updated_at
        """,
        [name, format, license, origin, teacher_model, notes, now],
    )
