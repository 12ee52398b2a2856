"""The OpenAI Batch API: upload JSONL, create batches, poll, download and ingest.

A batch is committed *before* it is created (write-ahead), under the provisional id
``pending:<submission>`` with its request plans, and created with the submission key in
its metadata; its real id replaces the provisional one as soon as the API returns it. So
``teacher batch status|collect`` resume after any restart, and a process killed while
creating a batch cannot make a re-run pay for the same requests twice: :func:`reconcile`
finds the batch by its key, or marks a submission that never reached the API abandoned.
Input files are split to stay under the API's 100 MB limit. Ingestion and marking a
batch collected happen in one transaction: collecting twice stores nothing twice.
"""

from __future__ import annotations

import json
import secrets
from datetime import timezone
from typing import Any

from imitkit.collectors.teacher.answer import Job, Tally, rows_for
from imitkit.collectors.teacher.calllog import write_rows
from imitkit.collectors.teacher.client import CallResult
from imitkit.collectors.teacher.errors import BatchError
from imitkit.collectors.teacher.plan import Request
from imitkit.collectors.teacher.prices import PriceTable
from imitkit.registry.runs import Run, utcnow

ENDPOINT = "/v1/chat/completions"
FINISHED = ("completed", "failed", "expired", "cancelled")
CLOSED = ("collected", "failed", "expired", "cancelled", "abandoned")
SUBMITTING = "submitting"
METADATA_KEY = "imitkit_submission"


def batch_lines(job: Job, requests: list[Request], max_bytes: int) -> list[list[tuple[Request, bytes]]]:
    """JSONL lines for the requests, split into parts of at most ``max_bytes``."""
    parts: list[list[tuple[Request, bytes]]] = [[]]
    size = 0
    for request in requests:
        line = (json.dumps({"custom_id": request.key, "method": "POST", "url": ENDPOINT,
                            "body": job.body(request)}, ensure_ascii=False) + "\n").encode("utf-8")
        if len(line) > max_bytes:
            raise BatchError(f"one request is {len(line):,} bytes, over the batch file limit of {max_bytes:,}")
        if size + len(line) > max_bytes and parts[-1]:
            parts.append([])
            size = 0
        parts[-1].append((request, line))
        size += len(line)
    return [p for p in parts if p]


async def submit(registry: Any, run: Run, job: Job, requests: list[Request], client: Any, max_bytes: int) -> list[str]:
    ids = []
    for number, part in enumerate(batch_lines(job, requests, max_bytes)):
        submission = f"sub_{secrets.token_hex(8)}"
        plan = {"job": {"params": job.params, "label": job.label},
                "requests": {r.key: r.to_json() for r, _ in part}}
        now = utcnow()
        registry.con.execute(  # write-ahead: its requests count as paid for from here on
            "INSERT INTO t_teacher_batch (id, base_url, model, source, input_file_id, part, n_requests, status, "
            "requests, run_id, created_at, updated_at, submission) VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?)",
            [f"pending:{submission}", job.base_url, job.model, job.source, number, len(part), SUBMITTING,
             json.dumps(plan, ensure_ascii=False), run.id, now, now, submission]).fetchall()
        data = b"".join(line for _, line in part)
        uploaded = await client.files.create(file=(f"imitkit-{submission}.jsonl", data), purpose="batch")
        created = await client.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h",
                                              metadata={METADATA_KEY: submission})
        _adopt(registry, submission, created.id, uploaded.id, created.status)
        ids.append(created.id)
    return ids


def _adopt(registry: Any, submission: str, batch_id: str, input_file_id: str | None, status: str) -> None:
    registry.con.execute(
        "UPDATE t_teacher_batch SET id = ?, input_file_id = ?, status = ?, updated_at = ? WHERE submission = ?",
        [batch_id, input_file_id, status, utcnow(), submission]).fetchall()


async def reconcile(registry: Any, client: Any) -> tuple[int, int]:
    """Settle submissions a killed process left: adopt the batch the API has, else abandon them.

    Returns (adopted, abandoned). The account's batches are listed newest first, back to an
    hour before the oldest unsettled submission.
    """
    pending = registry.rows("SELECT submission, created_at FROM t_teacher_batch WHERE status = ?", [SUBMITTING])
    if not pending:
        return 0, 0
    wanted = {r["submission"] for r in pending}
    oldest = min(r["created_at"] for r in pending).replace(tzinfo=timezone.utc).timestamp() - 3600
    found: dict[str, Any] = {}
    async for remote in client.batches.list(limit=100):
        key = (remote.metadata or {}).get(METADATA_KEY)
        if key in wanted:
            found[key] = remote
        if len(found) == len(wanted) or remote.created_at < oldest:
            break
    for key in wanted:
        if key in found:
            _adopt(registry, key, found[key].id, found[key].input_file_id, found[key].status)
        else:  # never created: its requests may be sent again
            registry.con.execute("UPDATE t_teacher_batch SET status = 'abandoned', updated_at = ? WHERE submission = ?",
                                 [utcnow(), key]).fetchall()
    return len(found), len(wanted) - len(found)


def pending_fingerprints(registry: Any) -> set[str]:
    """Samples inside batches that are not closed: already paid for, so not to be sent again."""
    found: set[str] = set()
    placeholders = ", ".join("?" for _ in CLOSED)
    for (raw,) in registry.con.execute(
            f"SELECT requests FROM t_teacher_batch WHERE status NOT IN ({placeholders})", list(CLOSED)).fetchall():
        for request in json.loads(raw)["requests"].values():
            found.update(request["fingerprints"])
    return found


def open_batches(registry: Any, ids: list[str] | None = None) -> list[dict[str, Any]]:
    rows = registry.rows("SELECT * FROM t_teacher_batch ORDER BY created_at, part")
    if ids:
        missing = set(ids) - {r["id"] for r in rows}
        if missing:
            raise BatchError(f"no batch {', '.join(sorted(missing))} in this registry (see `imitkit teacher batch status`)")
        return [r for r in rows if r["id"] in ids]
    return rows


async def refresh(registry: Any, client: Any, batch: dict[str, Any]) -> Any:
    remote = await client.batches.retrieve(batch["id"])
    registry.con.execute(
        "UPDATE t_teacher_batch SET status = ?, output_file_id = ?, error_file_id = ?, updated_at = ? WHERE id = ?",
        [remote.status, remote.output_file_id, remote.error_file_id, utcnow(), batch["id"]]).fetchall()
    batch.update(status=remote.status, output_file_id=remote.output_file_id, error_file_id=remote.error_file_id)
    return remote


async def collect_batch(registry: Any, run: Run, client: Any, batch: dict[str, Any], prices: PriceTable,
                        tally: Tally) -> None:
    """Ingest a completed batch's answers and errors and mark it collected, in one transaction."""
    plan = json.loads(batch["requests"])
    job = Job(batch["model"], plan["job"]["params"], batch["source"], plan["job"]["label"], batch["base_url"],
              prices.price(batch["model"], batch=True), mode="batch")
    requests = {key: Request.from_json(raw) for key, raw in plan["requests"].items()}
    lines = []
    for file_id in (batch["output_file_id"], batch["error_file_id"]):
        if file_id:
            content = await client.files.content(file_id)
            lines += [json.loads(line) for line in content.text.splitlines() if line.strip()]
    rows, seen = [], set()
    for line in lines:
        request = requests.get(line.get("custom_id"))
        if request is None or request.key in seen:
            continue
        seen.add(request.key)
        response = line.get("response") or {}
        status = response.get("status_code")
        body = response.get("body") if status == 200 else None
        error = None if body else _batch_error(line, response)
        result = CallResult(body if isinstance(body, dict) else None, 0.0, 1, error, status)
        rows += rows_for(job, request, result, run)
    for key in requests.keys() - seen:
        rows += rows_for(job, requests[key], CallResult(None, 0.0, 1, "missing from the batch output"), run)
    for r in rows:
        r["batch_id"] = batch["id"]
    mark = lambda con: con.execute(  # noqa: E731
        "UPDATE t_teacher_batch SET status = 'collected', collected_at = ?, updated_at = ? WHERE id = ?",
        [utcnow(), utcnow(), batch["id"]]).fetchall()
    write_rows(registry, run, rows, also=mark)
    tally.count(rows)


def _batch_error(line: dict[str, Any], response: dict[str, Any]) -> str:
    body = response.get("body")
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return f"{response.get('status_code')}: {body['error'].get('message')}"
    if line.get("error"):
        return str(line["error"])
    return f"status {response.get('status_code')}"
