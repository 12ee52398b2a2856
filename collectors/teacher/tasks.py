"""Synthesis tasks: a small YAML each (prompt template, seed field, parser, answer template).

``nq`` is built in; ``--task path/to/task.yaml`` adds one. Its ``version`` is recorded
with every prompt it produced, so changing the template is visible in the registry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

import yaml

from imitkit.collectors.teacher.errors import ConfigError

PARSERS = ("numbered", "lines")


@dataclass(frozen=True)
class Task:
    name: str
    version: str
    seed_field: str
    prompt_template: str  # uses {examples} and {n}
    shots: int = 5
    per_request: int = 20
    threshold: float = 0.7
    parser: str = "numbered"
    answer_system: str | None = None
    answer_template: str = "{prompt}"

    def render(self, examples: list[str], n: int) -> str:
        listed = "\n".join(f"{i}. {text}" for i, text in enumerate(examples, start=1))
        return self.prompt_template.format(examples=listed, n=n)

    def parse(self, reply: str, truncated: bool = False) -> list[str]:
        if self.parser == "lines":
            items = [line.strip() for line in reply.splitlines() if line.strip()]
        else:
            items = [m.group(1).strip() for m in _NUMBERED.finditer(reply)]
        if truncated and items:
            items = items[:-1]  # the last item of a cut-off reply may be cut too
        return [i.strip().strip('"').strip() for i in items if i.strip()]


_NUMBERED = re.compile(r"^\s*\d+\s*[.):]\s*(.+?)\s*$", re.MULTILINE)


def load_task(name_or_path: str) -> Task:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        text, where = path.read_text(encoding="utf-8"), str(path)
    else:
        entry = resources.files("imitkit.collectors.teacher").joinpath("tasks", f"{name_or_path}.yaml")
        if not entry.is_file():
            raise ConfigError(f"no task {name_or_path!r}: use a built-in task (nq) or a task YAML file")
        text, where = entry.read_text(encoding="utf-8"), f"built-in task {name_or_path}"
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: not valid YAML: {e}") from e
    valid = {f.name for f in fields(Task)}
    unknown = sorted(set(raw) - valid)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(valid))}")
    missing = sorted({"name", "version", "seed_field", "prompt_template"} - set(raw))
    if missing:
        raise ConfigError(f"{where}: missing key(s) {', '.join(missing)}")
    task = Task(**{**raw, "version": str(raw["version"])})
    if task.parser not in PARSERS:
        raise ConfigError(f"{where}: parser must be one of {', '.join(PARSERS)}")
    if "{examples}" not in task.prompt_template or "{prompt}" not in task.answer_template:
        raise ConfigError(f"{where}: prompt_template needs {{examples}} and answer_template needs {{prompt}}")
    return task
