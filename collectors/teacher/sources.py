"""Where prompts come from: a file, a read-only SQL query, a registry source, or synthesized prompts.

``SOURCE`` is read as: an existing file (JSON/JSONL with a text field, or plain lines);
``sql:QUERY`` (first column); ``synth:TASK`` (accepted prompts of ``teacher synthesize``);
otherwise the name of a registry source (the first user turn of each conversation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imitkit.collectors.errors import SourceFileError
from imitkit.collectors.teacher.errors import PromptSourceError
from imitkit.collectors.teacher.plan import Prompt

TEXT_FIELDS = ("prompt", "text", "question", "instruction", "input", "query")


def load_prompts(registry: Any, spec: str, text_field: str | None = None) -> tuple[str, list[Prompt]]:
    """Return a provenance label and the prompts, in source order."""
    if spec.startswith("sql:"):
        return spec, _from_sql(registry, spec[4:])
    if spec.startswith("synth:"):
        return spec, _from_synthesis(registry, spec[6:])
    path = Path(spec).expanduser()
    if path.is_file():
        return str(path.resolve()), _from_file(path, text_field)
    exists = registry.con.execute("SELECT 1 FROM t_source WHERE name = ?", [spec]).fetchone()
    if not exists:
        raise PromptSourceError(
            f"{spec!r} is not a file, a registry source, `sql:QUERY` or `synth:TASK` (see `imitkit sources`)")
    return f"source:{spec}", _from_source(registry, spec)


def _from_file(path: Path, text_field: str | None) -> list[Prompt]:
    from imitkit.collectors.reading import BadRecord, iter_records

    try:
        records = list(iter_records(path))
    except SourceFileError:
        records = None  # not JSON: one prompt per non-blank line
    if records is None:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [Prompt(line.strip(), i) for i, line in enumerate(lines) if line.strip()]
    prompts = []
    for record in records:
        if isinstance(record, BadRecord):
            raise PromptSourceError(f"{path}: record {record.index} (line {record.line}): {record.reason}")
        prompts.append(Prompt(_text_of(record.value, text_field, path, record.index), record.index))
    return prompts


def _text_of(value: Any, field: str | None, path: Path, index: int) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, dict):
        name = field or next((f for f in TEXT_FIELDS if f in value), None)
        if name is None or name not in value:
            wanted = repr(field) if field else "one of " + ", ".join(TEXT_FIELDS)
            raise PromptSourceError(f"{path}: record {index} has no field {wanted} (choose with --text-field)")
        text = value[name]
    else:
        raise PromptSourceError(f"{path}: record {index} is neither a string nor an object")
    if not isinstance(text, str) or not text.strip():
        raise PromptSourceError(f"{path}: record {index}: the prompt is not a non-empty string")
    return text


def _from_sql(registry: Any, query: str) -> list[Prompt]:
    from imitkit.registry.sql import run_user_query

    columns, rows = run_user_query(registry.con, query)
    if not columns:
        raise PromptSourceError("the query returned no columns")
    return [Prompt(str(r[0]), i) for i, r in enumerate(rows) if r[0] is not None and str(r[0]).strip()]


def _from_source(registry: Any, name: str) -> list[Prompt]:
    rows = registry.con.execute(
        """
        SELECT list_filter(c.messages, lambda m: m.role = 'user')[1].content
        FROM t_conversation c
        WHERE c.id IN (SELECT conversation_id FROM t_occurrence WHERE source = ?)
        ORDER BY c.id
        """, [name]).fetchall()
    return [Prompt(r[0], i) for i, r in enumerate(rows) if r[0]]


def _from_synthesis(registry: Any, task_name: str) -> list[Prompt]:
    from imitkit.collectors.teacher.tasks import load_task

    task = load_task(task_name)
    rows = registry.con.execute(
        "SELECT text FROM t_teacher_prompt WHERE task = ? AND accepted ORDER BY created_at, id", [task.name]
    ).fetchall()
    if not rows:
        raise PromptSourceError(f"no accepted prompts for task {task.name!r}: run `imitkit teacher synthesize` first")
    return [Prompt(task.answer_template.format(prompt=r[0]), i, task.answer_system) for i, r in enumerate(rows)]
