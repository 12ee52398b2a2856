"""Immutable snapshots: ``<registry>/snapshots/NAME/`` with Parquet splits, manifest and card.

A snapshot's fingerprint is taken over its member ids (per split, in file order), the
normalized spec and what the token counts mean; a name is bound to one fingerprint for
ever. Files are written to a hidden temp folder, made read-only, and renamed into place
in the same transaction that registers the snapshot, so a crash leaves either no
snapshot or a whole one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imitkit.registry import manifest as facts
from imitkit.registry.errors import NotFoundError, RegistryError
from imitkit.registry.mixspec import MixSpec
from imitkit.registry.mixtures import ComponentResult, token_method
from imitkit.registry.records import canonical_json
from imitkit.registry.runs import Run, code_version, utcnow
from imitkit.registry.tokenizer import TokenizerSpec

SPLITS = ("train", "eval")
MANIFEST = "manifest.json"
CARD = "README.md"
FORMAT_VERSION = 1


class SnapshotError(RegistryError):
    """A snapshot cannot be written or read."""


class SnapshotExistsError(SnapshotError):
    """A snapshot name is already bound to different content."""


@dataclass
class Written:
    name: str
    fingerprint: str
    path: Path
    created: bool  # False when the same content already existed under that name
    manifest: dict[str, Any]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def members_digest_sql(source: str, order: str) -> str:
    """One split's member ids, newline-joined in file order, hashed: the same SQL for writing and verifying."""
    return f"SELECT coalesce(sha256(string_agg(id, chr(10) ORDER BY {order})), '') FROM {source}"


def compute_fingerprint(spec: dict[str, Any], tokens: dict[str, Any], digests: dict[str, str]) -> str:
    body = canonical_json({"spec": spec, "tokens": tokens, "members": digests})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def fingerprint_of_selection(registry: Any, spec: MixSpec, tokenizer: TokenizerSpec | None) -> tuple[str, dict]:
    digests = {s: registry.scalar(members_digest_sql(f"_mix_members WHERE split = '{s}'", "position")) for s in SPLITS}
    return compute_fingerprint(spec.normalized(), token_method(tokenizer), digests), digests


def _messages_sql(registry: Any) -> str:
    # The conversational format TRL and datasets read: {role, content}; tool_calls only when used.
    with_tools = registry.scalar("SELECT count(*) FROM _mix_members WHERE has_tools")
    if with_tools:
        return "c.messages"
    return "CAST(c.messages AS STRUCT(role VARCHAR, content VARCHAR)[])"  # drops the field by name


def _write_split(registry: Any, split: str, path: Path, messages: str) -> None:
    target = str(path).replace("'", "''")
    registry.con.execute(f"""COPY (
        SELECT c.id, {messages} AS messages, c.source, c.origin, c.teacher_model, m.component,
               m.n_tokens, m.n_trainable_tokens
        FROM _mix_members m JOIN conversations c ON c.id = m.id
        WHERE m.split = '{split}' ORDER BY m.position
    ) TO '{target}' (FORMAT parquet, COMPRESSION zstd)""")


def _split_summaries(registry: Any, folder: Path) -> dict[str, Any]:
    splits = {}
    for split in SPLITS:
        row = registry.rows(f"""SELECT count(*) AS conversations, coalesce(sum(n_tokens), 0) AS tokens,
            coalesce(sum(n_trainable_tokens), 0) AS trainable_tokens FROM _mix_members WHERE split = '{split}'""")[0]
        if row["conversations"]:
            file = folder / f"{split}.parquet"
            splits[split] = {"file": file.name, **row, "sha256": file_sha256(file)}
    return splits


def write(registry: Any, spec: MixSpec, tokenizer: TokenizerSpec | None, run: Run,
          components: list[ComponentResult]) -> Written:
    """Write the selection in ``_mix_members`` as snapshot ``spec.name`` (a no-op if it already exists as is)."""
    fingerprint, _ = fingerprint_of_selection(registry, spec, tokenizer)
    final = registry.snapshots_dir / spec.name
    existing = registry.rows("SELECT fingerprint, manifest FROM t_snapshot WHERE name = ?", [spec.name])
    if existing:
        if existing[0]["fingerprint"] == fingerprint:
            return Written(spec.name, fingerprint, final, False, json.loads(existing[0]["manifest"]))
        raise SnapshotExistsError(
            f"snapshot {spec.name!r} already exists with fingerprint {existing[0]['fingerprint'][:12]}, and this spec "
            f"now selects different content ({fingerprint[:12]}): snapshots are immutable, choose another name")
    if final.exists():
        raise SnapshotError(f"{final} exists but is not a registered snapshot (left by a crash?); "
                            "remove it or choose another name")
    registry.snapshots_dir.mkdir(parents=True, exist_ok=True)
    tmp = registry.snapshots_dir / f".{spec.name}.tmp-{run.id.replace(':', '')}"
    tmp.mkdir()
    try:
        messages = _messages_sql(registry)
        for split in SPLITS:
            if registry.scalar(f"SELECT count(*) FROM _mix_members WHERE split = '{split}'"):
                _write_split(registry, split, tmp / f"{split}.parquet", messages)
        doc = _manifest(registry, spec, tokenizer, run, components, fingerprint, _split_summaries(registry, tmp))
        from imitkit.cards.dataset import render_card

        (tmp / CARD).write_text(render_card(doc), encoding="utf-8")
        doc["files"] = {CARD: {"sha256": file_sha256(tmp / CARD)}}
        (tmp / MANIFEST).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        for file in tmp.iterdir():
            file.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        _register(registry, spec, tokenizer, run, doc, tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Written(spec.name, fingerprint, final, True, doc)


def _manifest(registry: Any, spec: MixSpec, tokenizer: TokenizerSpec | None, run: Run,
              components: list[ComponentResult], fingerprint: str, splits: dict[str, Any]) -> dict[str, Any]:
    template = None
    if tokenizer:
        template = {"source": tokenizer.template_source, "sha256": tokenizer.template_sha256,
                    "trainable_method": tokenizer.trainable_method, "template": tokenizer.template}
    return {
        "name": spec.name, "fingerprint": fingerprint, "format_version": FORMAT_VERSION,
        "spec": spec.normalized(), "seed": spec.seed, "budget": spec.budget, "unit": spec.unit,
        "tokenizer": tokenizer.name if tokenizer else None, "chat_template": template,
        "token_counts_exact": tokenizer is not None, "token_counts": token_method(tokenizer),
        "splits": splits,
        "components": [c.as_dict() for c in components],
        "sources": facts.sources(registry),
        "statistics": facts.statistics(registry),
        "curation": facts.curation(registry),
        "contamination": facts.contamination(registry),
        "columns": ["id", "messages", "source", "origin", "teacher_model", "component", "n_tokens",
                    "n_trainable_tokens"],
        "code_version": code_version(), "created_at": utcnow().isoformat(timespec="seconds"),
        "run_id": run.id, "schema_version": registry.schema_version,
    }


def _register(registry: Any, spec: MixSpec, tokenizer: TokenizerSpec | None, run: Run,
              doc: dict[str, Any], tmp: Path, final: Path) -> None:
    con = registry.con
    totals = {k: sum(s[k] for s in doc["splits"].values()) for k in ("conversations", "tokens", "trainable_tokens")}
    with registry.transaction():
        con.execute("INSERT INTO t_snapshot VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [spec.name, doc["fingerprint"], str(final), totals["conversations"], totals["tokens"],
                     totals["trainable_tokens"], tokenizer is not None, tokenizer.name if tokenizer else None,
                     json.dumps(doc, ensure_ascii=False), run.id, utcnow()])
        con.execute("INSERT INTO t_snapshot_member SELECT ?, position, id, split, component, n_tokens, "
                    "n_trainable_tokens FROM _mix_members", [spec.name])
        os.rename(tmp, final)  # last: if it fails the rows roll back


def load(registry: Any, name: str) -> dict[str, Any]:
    """The registry's record of snapshot ``name`` (its manifest as registered, not as on disk)."""
    rows = registry.rows("SELECT * FROM snapshots WHERE name = ?", [name])
    if not rows:
        raise NotFoundError(f"no snapshot named {name!r} (see `imitkit snapshot list`)")
    row = rows[0]
    row["manifest"] = json.loads(row["manifest"])
    row["path"] = registry.snapshots_dir / name  # not the stored path: a registry may have moved
    return row


def listing(registry: Any) -> list[dict[str, Any]]:
    return registry.rows("""SELECT name, left(fingerprint, 12) AS fingerprint, conversations, tokens, trainable_tokens,
        token_counts_exact AS exact, tokenizer, created_at FROM snapshots ORDER BY created_at, name""")
