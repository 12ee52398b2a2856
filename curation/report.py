"""What curation decided: per-step counts and reasons, contamination, and rejected examples."""

from __future__ import annotations

import json
from typing import Any

from imitkit.curation.steps import STEP_NAMES


def curation_report(registry: Any) -> dict:
    configured = [r["step"] for r in registry.rows("SELECT step FROM t_curation_pipeline ORDER BY position")]
    counts = {r["step"]: r for r in registry.rows("""
        SELECT step, count(*) AS judged, count(*) FILTER (WHERE keep) AS kept,
               count(*) FILTER (WHERE NOT keep) AS dropped, max(created_at) AS last_judged
        FROM t_verdict GROUP BY step""")}
    reasons: dict[str, dict[str, int]] = {}
    for r in registry.rows("SELECT step, reason, count(*) AS n FROM t_verdict WHERE NOT keep "
                           "GROUP BY step, reason ORDER BY step, n DESC, reason"):
        reasons.setdefault(r["step"], {})[r["reason"]] = r["n"]
    last = registry.rows("SELECT counts FROM t_run WHERE command = 'curate' AND status = 'ok' ORDER BY started_at DESC LIMIT 1")
    last_counts = json.loads(last[0]["counts"]) if last and last[0]["counts"] else {}
    steps = []
    for name in STEP_NAMES:
        if name not in counts and name not in configured:
            continue
        c = counts.get(name, {"judged": 0, "kept": 0, "dropped": 0, "last_judged": None})
        steps.append({"step": name, "configured": name in configured, "judged": c["judged"], "kept": c["kept"],
                      "dropped": c["dropped"], "reasons": reasons.get(name, {}),
                      "last_run_seconds": last_counts.get(f"{name}.seconds"), "last_judged": c["last_judged"]})
    contamination = registry.rows("""
        SELECT json_extract_string(details, '$.evalset') AS evalset, count(*) AS conversations,
               count(DISTINCT json_extract_string(details, '$.item_id')) AS items,
               count(*) FILTER (WHERE json_extract_string(details, '$.match') = 'exact') AS exact
        FROM t_verdict WHERE step = 'decontaminate' AND NOT keep GROUP BY ALL ORDER BY conversations DESC""")
    languages = registry.rows("""
        SELECT json_extract_string(details, '$.lang') AS lang, count(*) AS conversations,
               count(*) FILTER (WHERE keep) AS kept,
               count(*) FILTER (WHERE json_extract(details, '$.mixed')::BOOLEAN) AS mixed_user_assistant
        FROM t_verdict WHERE step = 'language' GROUP BY ALL ORDER BY conversations DESC LIMIT 20""")
    totals = registry.rows("SELECT count(*) AS conversations, count(*) FILTER (WHERE kept) AS kept FROM conversations")[0]
    return {**totals, "pipeline": configured, "steps": steps, "contamination": contamination, "languages": languages}


def rejects(registry: Any, step: str, reason: str | None = None, limit: int = 10) -> list[dict]:
    """Dropped conversations of ``step`` with what they duplicated or matched."""
    rows = registry.rows("""
        SELECT v.conversation_id AS id, v.reason, v.details, c.messages
        FROM t_verdict v JOIN conversations c ON c.id = v.conversation_id
        WHERE v.step = ? AND NOT v.keep AND (CAST(? AS VARCHAR) IS NULL OR v.reason = ? OR v.reason LIKE ? || '%')
        ORDER BY v.reason, v.conversation_id LIMIT ?""", [step, reason, reason, reason, limit])
    out = []
    for row in rows:
        details = json.loads(row["details"]) if row["details"] else {}
        item = {"id": row["id"], "reason": row["reason"], "details": details, "messages": row["messages"],
                "counterpart": None}
        if details.get("kept"):
            kept = registry.rows("SELECT id, messages FROM conversations WHERE id = ?", [details["kept"]])
            if kept:
                item["counterpart"] = {"kind": "kept", "id": kept[0]["id"], "messages": kept[0]["messages"]}
        elif details.get("evalset"):
            ev = registry.rows("SELECT text FROM t_evalset_item WHERE evalset = ? AND item_id = ?",
                               [details["evalset"], details["item_id"]])
            if ev:
                item["counterpart"] = {"kind": "eval item", "id": f"{details['evalset']}/{details['item_id']}",
                                       "text": ev[0]["text"]}
        elif details.get("parts"):
            item["counterpart"] = {"kind": "parts", "id": ", ".join(details["parts"])}
        out.append(item)
    return out


def render_messages(messages: list[dict] | None, limit: int = 700) -> str:
    text = "\n".join(f"[{m['role']}] {m['content']}" for m in messages or [])
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more chars]"
