"""Eval data: NQ-open, MMLU (both CSV layouts), HumanEval and held-out conversations.

Local files come first (``--data``, else ``$IMITKIT_EVAL_DATA``, else the shared data
folder next to the checkout); when a default file is absent and the hubs are reachable,
the same sets load through ``datasets``.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imitkit.eval.errors import EvalDataError
from imitkit.eval.mmlu_categories import category

DATA_ENV = "IMITKIT_EVAL_DATA"
DEFAULT_FILES = {
    "nq": "nq_open/NQ-open.dev.jsonl",
    "mmlu": "mmlu/hf_style_copy",
    "humaneval": "humaneval/HumanEval.jsonl.gz",
}
LETTERS = "ABCD"
_HF_HEADER = ["question", "choice0", "choice1", "choice2", "choice3", "answer"]


@dataclass(slots=True)
class Item:
    """One eval item: ``text`` is what decontamination matches; ``target`` the gold answer."""

    id: str
    text: str
    target: Any = None
    meta: dict[str, Any] = field(default_factory=dict)


def data_root() -> Path:
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def resolve(task: str, override: str | os.PathLike | None = None) -> Path | None:
    """The file or folder to read for ``task``; None means "use the hub copy"."""
    if override:
        path = Path(override).expanduser()
        if not path.exists():
            raise EvalDataError(f"{task} data not found: {path}")
        return path
    path = data_root() / DEFAULT_FILES[task]
    if path.exists():
        return path
    if os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1":
        raise EvalDataError(f"{task} data not found at {path} and the hub is offline; pass --data PATH "
                            f"or set {DATA_ENV} to a folder laid out like ../shared/data")
    return None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    rows, n = [], 0
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    rows.append(json.loads(line))
    except (OSError, EOFError, json.JSONDecodeError) as e:
        raise EvalDataError(f"{path}: cannot read line {n}: {e}") from e
    return rows


# -- NQ-open ----------------------------------------------------------------------------
def load_nq(path: Path | None) -> list[Item]:
    """Ids are 0-based line numbers of the NQ-open file."""
    if path is None:
        rows = [dict(r) for r in _hub("nq_open", None, "validation")]
    else:
        rows = _read_jsonl(path)
    items = []
    for i, row in enumerate(rows):
        if not isinstance(row.get("question"), str) or not isinstance(row.get("answer"), list):
            raise EvalDataError(f"{path}: line {i + 1} is not an NQ-open record (question, answer[])")
        items.append(Item(str(i), row["question"], row["answer"]))
    return items


def nq_shots(path: Path | None, k: int, items: list[Item]) -> tuple[list[tuple[str, str]], list[Item]]:
    """K exemplars from the EfficientQA dev file beside ``path`` (other questions), else the first K items.

    Returns the shots and the items left to score (exemplars are never scored).
    """
    if k <= 0:
        return [], items
    sibling = path.parent / "NQ-open.efficientqa.dev.1.1.jsonl" if path else None
    if sibling and sibling.exists() and sibling.resolve() != path.resolve():
        pool = load_nq(sibling)[:k]
        return [(s.text, s.target[0]) for s in pool], items
    return [(s.text, s.target[0]) for s in items[:k]], items[k:]


# -- MMLU ---------------------------------------------------------------------------------
def _read_mmlu_csv(path: Path) -> list[tuple[str, list[str], str]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if rows and [c.strip().lower() for c in rows[0]] == _HF_HEADER:
        rows = rows[1:]
    out = []
    for n, row in enumerate(rows, 1):
        if len(row) != 6:
            raise EvalDataError(f"{path}: row {n} has {len(row)} columns, expected 6")
        answer = row[5].strip()
        letter = LETTERS[int(answer)] if answer in ("0", "1", "2", "3") else answer.upper()
        if letter not in LETTERS:
            raise EvalDataError(f"{path}: row {n} has answer {answer!r} (expected A-D or 0-3)")
        out.append((row[0], row[1:5], letter))
    return out


def mmlu_split(folder: Path, split: str) -> dict[str, list[tuple[str, list[str], str]]]:
    files = sorted((folder / split).glob(f"*_{split}.csv"))
    if not files:
        raise EvalDataError(f"{folder / split}: no *_{split}.csv files (expected an MMLU data folder)")
    return {f.name[: -len(f"_{split}.csv")]: _read_mmlu_csv(f) for f in files}


def load_mmlu(folder: Path | None) -> tuple[list[Item], dict[str, list[Item]]]:
    """Test items (id ``SUBJECT/INDEX``) and the dev exemplars per subject."""
    if folder is None:
        test, dev = _mmlu_from_hub("test"), _mmlu_from_hub("dev")
    else:
        test = mmlu_split(folder, "test")
        dev = mmlu_split(folder, "dev") if (folder / "dev").is_dir() else {}

    def items(split: dict[str, list]) -> list[Item]:
        return [Item(f"{subject}/{i}", q, letter, {"subject": subject, "choices": choices,
                                                  "category": category(subject)})
                for subject, rows in split.items() for i, (q, choices, letter) in enumerate(rows)]

    return items(test), {s: items({s: rows}) for s, rows in dev.items()}


def _mmlu_from_hub(split: str) -> dict[str, list[tuple[str, list[str], str]]]:
    out: dict[str, list] = {}
    for row in _hub("cais/mmlu", "all", split):
        out.setdefault(row["subject"], []).append((row["question"], list(row["choices"]), LETTERS[row["answer"]]))
    return out


# -- HumanEval ----------------------------------------------------------------------------
def load_humaneval(path: Path | None) -> list[Item]:
    rows = _read_jsonl(path) if path is not None else [dict(r) for r in _hub("openai_humaneval", None, "test")]
    items = []
    for row in rows:
        missing = {"task_id", "prompt", "test", "entry_point"} - set(row)
        if missing:
            raise EvalDataError(f"{path}: a HumanEval problem lacks {sorted(missing)}")
        items.append(Item(row["task_id"], row["prompt"], None, {
            "test": row["test"], "entry_point": row["entry_point"],
            "canonical_solution": row.get("canonical_solution")}))
    return items


# -- held-out conversations ---------------------------------------------------------------
def load_heldout(path: Path) -> list[Item]:
    """Conversations (``messages``) from a snapshot's ``eval.parquet`` or a JSONL file."""
    if not path.exists():
        raise EvalDataError(f"held-out data not found: {path} (make the snapshot with --eval-fraction, "
                            "or pass --heldout FILE)")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    else:
        rows = _read_jsonl(path)
    items = []
    for i, row in enumerate(rows):
        messages = [{"role": m["role"], "content": m.get("content") or ""} for m in row.get("messages") or []]
        last = max((j for j, m in enumerate(messages) if m["role"] == "assistant"), default=None)
        if last is None or not any(m["role"] == "user" for m in messages[:last]):
            continue  # nothing to compare against without a user turn and a teacher answer
        items.append(Item(str(row.get("id") or i), messages[last - 1]["content"], messages[last]["content"],
                          {"messages": messages[: last + 1]}))
    if not items:
        raise EvalDataError(f"{path}: no conversation with a user turn followed by an assistant answer")
    return items


def _hub(name: str, config: str | None, split: str) -> Any:
    try:
        import datasets

        return datasets.load_dataset(name, config, split=split)
    except Exception as e:  # any hub/network failure becomes one line for the user
        raise EvalDataError(f"cannot load {name} from the hub ({type(e).__name__}: {e}); pass --data PATH") from e
