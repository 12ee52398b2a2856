"""Plain helpers for curation tests (importable by name: tests/ is not a package)."""

from __future__ import annotations

import json

from imitkit.registry.records import message


def conv(*turns: str, roles: tuple[str, ...] = ("user", "assistant")) -> list[dict]:
    """Messages alternating user/assistant (or the given role cycle)."""
    return [message(roles[i % len(roles)], t) for i, t in enumerate(turns)]


def verdicts(registry, step: str) -> dict[str, dict]:
    rows = registry.rows("SELECT conversation_id, keep, reason, details FROM t_verdict WHERE step = ?", [step])
    return {r["conversation_id"]: {**r, "details": json.loads(r["details"]) if r["details"] else {}} for r in rows}
