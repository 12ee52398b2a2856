"""What a snapshot's manifest says about its members: sources, statistics, curation, contamination.

Curation tables may not exist in a registry: the curation and contamination sections
are filled from the ``verdicts`` view when there is one and say "not curated" otherwise.
All queries run over the temp table ``_mix_members`` of the mixture being written.
"""

from __future__ import annotations

import json
from typing import Any

CONTAMINATION_STEP = "decontaminate"
MAX_FINDINGS = 50


def _has_view(registry: Any, name: str) -> bool:
    return bool(registry.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]))


def sources(registry: Any) -> list[dict[str, Any]]:
    return registry.rows("""
        SELECT c.source AS name, any_value(s.license) AS license, any_value(s.origin) AS origin,
               any_value(s.teacher_model) AS teacher_model, count(*) AS conversations,
               sum(m.n_tokens) AS tokens, sum(m.n_trainable_tokens) AS trainable_tokens
        FROM _mix_members m JOIN conversations c ON c.id = m.id LEFT JOIN sources s ON s.name = c.source
        GROUP BY c.source ORDER BY tokens DESC, name""")


def statistics(registry: Any) -> dict[str, Any]:
    row = registry.rows("""
        SELECT count(*) AS conversations, count(DISTINCT m.id) AS unique_conversations,
               sum(c.n_turns) AS turns, avg(c.n_turns) AS mean_turns, median(c.n_turns) AS median_turns,
               max(c.n_turns) AS max_turns, sum(c.n_chars) AS chars,
               avg(m.n_tokens) AS mean_tokens, median(m.n_tokens) AS median_tokens, max(m.n_tokens) AS max_tokens,
               avg(m.n_trainable_tokens) AS mean_trainable_tokens
        FROM _mix_members m JOIN conversations c ON c.id = m.id""")[0]
    for key in ("mean_turns", "median_turns", "mean_tokens", "median_tokens", "mean_trainable_tokens"):
        row[key] = round(float(row[key] or 0), 2)
    row["languages"] = {r["lang"]: r["n"] for r in registry.rows(
        "SELECT coalesce(c.lang, 'unknown') AS lang, count(*) AS n FROM _mix_members m "
        "JOIN conversations c ON c.id = m.id GROUP BY 1 ORDER BY n DESC, lang")}
    row["origins"] = {r["origin"]: r["n"] for r in registry.rows(
        "SELECT c.origin, count(*) AS n FROM _mix_members m JOIN conversations c ON c.id = m.id "
        "GROUP BY 1 ORDER BY n DESC, origin")}
    row["teacher_models"] = {r["model"]: r["n"] for r in registry.rows(
        "SELECT coalesce(c.teacher_model, 'unknown') AS model, count(*) AS n FROM _mix_members m "
        "JOIN conversations c ON c.id = m.id WHERE c.origin = 'teacher' GROUP BY 1 ORDER BY n DESC, model")}
    return row


def _details(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def curation(registry: Any) -> dict[str, Any]:
    """The steps that produced the kept set: parameters, checks and drops (registry-wide)."""
    if not _has_view(registry, "verdicts") or not registry.scalar("SELECT count(*) FROM verdicts"):
        return {"status": "not curated",
                "note": "no curation verdicts in this registry; every conversation counts as kept"}
    pipeline = _has_view(registry, "curation_pipeline")
    join = "LEFT JOIN curation_pipeline p ON p.step = v.step" if pipeline else ""
    cols = ("any_value(p.position) AS step_position, any_value(p.params) AS parameters, "
            "any_value(p.fingerprint) AS step_fingerprint, bool_or(p.step IS NOT NULL) AS configured"
            if pipeline else "NULL AS position, NULL AS parameters, NULL AS step_fingerprint, TRUE AS configured")
    steps = registry.rows(f"""
        SELECT v.step, {cols}, count(*) AS checked, count(*) FILTER (WHERE NOT v.keep) AS dropped,
               count(DISTINCT v.run_id) AS runs, max(v.run_id) AS last_run
        FROM verdicts v {join} GROUP BY v.step ORDER BY step_position NULLS LAST, v.step""")
    reasons = registry.rows("""
        SELECT step, reason, n FROM (
            SELECT *, row_number() OVER (PARTITION BY step ORDER BY n DESC, reason) AS k FROM (
                SELECT step, coalesce(reason, '?') AS reason, count(*) AS n FROM verdicts WHERE NOT keep GROUP BY 1, 2))
        WHERE k <= 5 ORDER BY step, n DESC, reason""")
    for step in steps:
        if step["parameters"] is None and step["last_run"]:
            step["parameters"] = registry.scalar("SELECT arguments FROM runs WHERE id = ?", [step["last_run"]])
        step["parameters"] = _details(step["parameters"])
        step["top_reasons"] = {r["reason"]: r["n"] for r in reasons if r["step"] == step["step"]}
    kept = registry.rows("SELECT count(*) AS conversations, count(*) FILTER (WHERE kept) AS kept FROM conversations")[0]
    return {"status": "curated", "steps": steps, **kept}


def contamination(registry: Any) -> dict[str, Any]:
    """Decontamination findings, and how many members carry one (non-zero only when the spec took dropped ones)."""
    if not _has_view(registry, "verdicts") or not registry.scalar("SELECT count(*) FROM verdicts"):
        return {"status": "not curated", "note": "no decontamination was run on this registry"}
    totals = registry.rows(f"""
        SELECT count(*) AS checked, count(*) FILTER (WHERE NOT keep) AS flagged
        FROM verdicts WHERE step = '{CONTAMINATION_STEP}'""")[0]
    if not totals["checked"]:
        return {"status": "not checked", "note": "curation ran without the decontaminate step"}
    flagged_members = registry.scalar(f"""SELECT count(DISTINCT m.id) FROM _mix_members m JOIN verdicts v
        ON v.conversation_id = m.id WHERE v.step = '{CONTAMINATION_STEP}' AND NOT v.keep""")
    findings = registry.rows(f"""SELECT conversation_id, reason, details FROM verdicts
        WHERE step = '{CONTAMINATION_STEP}' AND NOT keep ORDER BY conversation_id LIMIT {MAX_FINDINGS}""")
    for f in findings:
        f["details"] = _details(f["details"])
    return {"status": "checked", **totals, "flagged_members": flagged_members, "findings": findings}
