"""A loopback OpenAI-compatible server for tests and benches (no network, no key needed).

Serves, over the small HTTP/1.1 layer in ``fake_http.py``, what the official ``openai``
client needs: ``POST /v1/chat/completions`` (with ``n`` samples),
``/v1/files`` (upload, retrieve, content) and ``/v1/batches`` (create, retrieve,
cancel). Faults are injected by rule; every successful answer is counted per request
fingerprint so tests can prove that nothing was paid for twice.

Use in-process (``with FakeOpenAI() as server: server.base_url``), or as a separate
process: ``python tests/fakes/fake_openai.py --latency 0.05`` prints its base URL.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from fake_http import HttpConnection, json_response, multipart_file

Responder = Callable[[dict, int], str]
FAULT_KINDS = ("429", "500", "slow", "malformed", "truncated", "context_length", "401", "drop")


@dataclass
class Fault:
    """Answer matching chat requests with ``kind`` instead of a normal answer, ``times`` times (-1: always)."""

    kind: str
    match: str | None = None  # substring of the last user message; None matches every request
    times: int = 1
    retry_after: float | None = None  # seconds, sent as Retry-After on 429
    delay: float = 5.0  # for "slow": seconds to wait before answering

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}")


def request_fingerprint(body: dict) -> str:
    """What the server counts answers by: the request body, canonical, without transport fields."""
    kept = {k: v for k, v in body.items() if k not in ("stream", "user")}
    canon = json.dumps(kept, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def last_user(body: dict) -> str:
    for m in reversed(body.get("messages") or []):
        if m.get("role") == "user":
            return m.get("content") if isinstance(m.get("content"), str) else json.dumps(m.get("content"))
    return ""


def echo_responder(body: dict, sample: int) -> str:
    return f"Answer {sample} to: {last_user(body)}"


def count_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


@dataclass
class _Batch:
    id: str
    input_file_id: str
    endpoint: str
    created_at: int
    polls: int = 0
    status: str = "validating"
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict = field(default_factory=lambda: {"total": 0, "completed": 0, "failed": 0})
    metadata: dict | None = None


class FakeOpenAI:
    def __init__(self, latency: float = 0.0, responder: Responder = echo_responder,
                 api_key: str | None = None, batch_polls: int = 2):
        self.latency = latency
        self.responder = responder
        self.api_key = api_key  # when set, other keys get 401
        self.batch_polls = batch_polls  # retrieves before a batch completes
        self.faults: list[Fault] = []
        self.successes: Counter[str] = Counter()  # request fingerprint -> 200 answers sent
        self.prompts: Counter[str] = Counter()  # last user message -> answered samples
        self.statuses: Counter[int] = Counter()
        self.requests = 0
        self.arrivals: list[tuple[float, str]] = []  # (monotonic time, last user message) per chat request
        self.bodies: list[dict] = []  # every chat request body, in arrival order
        self.replies: list[tuple[float, str, int]] = []  # (monotonic time, last user message, status)
        self.stall_after: int | None = None  # chat requests hang once this many succeeded
        self.files: dict[str, dict] = {}
        self.batches: dict[str, _Batch] = {}
        self.seen_auth: set[str] = set()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "FakeOpenAI":
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            self._server = self._loop.run_until_complete(
                self._loop.create_server(lambda: HttpConnection(self.handle), "127.0.0.1", self.port, backlog=1024))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="fake-openai", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop and self._server:
            async def shutdown() -> None:
                self._server.close()
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self._loop.stop()

            asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
            self._thread.join(5)

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def add_fault(self, kind: str, match: str | None = None, times: int = 1, **kw: Any) -> Fault:
        fault = Fault(kind, match, times, **kw)
        with self._lock:
            self.faults.append(fault)
        return fault

    @property
    def total_successes(self) -> int:
        return sum(self.successes.values())

    # -- chat ------------------------------------------------------------------------
    def _take_fault(self, body: dict) -> Fault | None:
        text = last_user(body)
        with self._lock:
            for fault in self.faults:
                if fault.times != 0 and (fault.match is None or fault.match in text):
                    fault.times -= 1 if fault.times > 0 else 0
                    return fault
        return None

    def chat(self, body: dict, fault: Fault | None) -> tuple[int, dict, dict]:
        """Answer one chat request: (status, headers, json body). Counts successes."""
        if fault and fault.kind == "429":
            headers = {"retry-after": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            return 429, headers, _error("Rate limit reached", "rate_limit_exceeded", "requests")
        if fault and fault.kind == "500":
            return 500, {}, _error("The server had an error", "server_error")
        if fault and fault.kind == "context_length":
            return 400, {}, _error("This model's maximum context length is 8 tokens", "context_length_exceeded",
                                   "invalid_request_error", param="messages")
        if fault and fault.kind == "401":
            return 401, {}, _error("Incorrect API key provided", "invalid_api_key", "invalid_request_error")
        n = int(body.get("n") or 1)
        prompt_tokens = sum(count_tokens(str(m.get("content") or "")) + 4 for m in body.get("messages", [])) + 3
        choices, completion_tokens = [], 0
        for i in range(n):
            text = self.responder(body, i)
            finish = "stop"
            limit = body.get("max_tokens") or body.get("max_completion_tokens")
            if (fault and fault.kind == "truncated") or (limit and count_tokens(text) > limit):
                text, finish = text[: max(1, (limit or 4) * 4 // 2)], "length"
            completion_tokens += count_tokens(text)
            choices.append({"index": i, "message": {"role": "assistant", "content": text, "refusal": None},
                            "finish_reason": finish, "logprobs": None})
        fingerprint = request_fingerprint(body)
        with self._lock:
            self.successes[fingerprint] += 1
            self.prompts[last_user(body)] += n
        return 200, {}, {
            "id": f"chatcmpl-{fingerprint[:12]}-{self.requests}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model", "?"), "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }

    # -- files and batches -------------------------------------------------------------
    def upload(self, filename: str, purpose: str, data: bytes) -> dict:
        fid = f"file-{len(self.files) + 1:05d}"
        self.files[fid] = {"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                           "filename": filename, "purpose": purpose, "status": "processed", "data": data}
        return _public(self.files[fid])

    def create_batch(self, body: dict) -> dict:
        if body.get("input_file_id") not in self.files:
            return {"_status": 404, **_error("No such file", "not_found")}
        bid = f"batch_{len(self.batches) + 1:05d}"
        self.batches[bid] = _Batch(bid, body["input_file_id"], body.get("endpoint", ""), int(time.time()),
                                   metadata=body.get("metadata"))
        return self._batchjson_response(self.batches[bid])

    def list_batches(self, query: str) -> dict:
        """Newest first, ``limit`` per page, ``after`` a batch id: the API's cursor pagination."""
        from urllib.parse import parse_qs

        args = {k: v[0] for k, v in parse_qs(query).items()}
        ordered = sorted(self.batches.values(), key=lambda b: b.id, reverse=True)
        if "after" in args:
            ordered = [b for b in ordered if b.id < args["after"]]
        limit = int(args.get("limit", 20))
        page = [self._batchjson_response(b) for b in ordered[:limit]]
        return {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None, "has_more": len(ordered) > limit}

    def poll_batch(self, bid: str) -> dict:
        batch = self.batches[bid]
        batch.polls += 1
        if batch.status == "validating":
            batch.status = "in_progress"
        elif batch.status == "in_progress" and batch.polls >= self.batch_polls:
            self._run_batch(batch)
        return self._batchjson_response(batch)

    def _run_batch(self, batch: _Batch) -> None:
        out, err = [], []
        for line in self.files[batch.input_file_id]["data"].decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            status, _, body = self.chat(item["body"], self._take_fault(item["body"]))
            record = {"id": f"batch_req_{len(out) + len(err)}", "custom_id": item["custom_id"],
                      "response": {"status_code": status, "request_id": "req", "body": body},
                      "error": None}
            (out if status == 200 else err).append(json.dumps(record))
            batch.counts["total"] += 1
            batch.counts["completed" if status == 200 else "failed"] += 1
        batch.output_file_id = self.upload("output.jsonl", "batch_output", "\n".join(out).encode())["id"]
        if err:
            batch.error_file_id = self.upload("errors.jsonl", "batch_output", "\n".join(err).encode())["id"]
        batch.status = "completed"

    def _batchjson_response(self, b: _Batch) -> dict:
        return {"id": b.id, "object": "batch", "endpoint": b.endpoint, "input_file_id": b.input_file_id,
                "completion_window": "24h", "status": b.status, "created_at": b.created_at,
                "output_file_id": b.output_file_id, "error_file_id": b.error_file_id,
                "request_counts": dict(b.counts), "errors": None, "metadata": b.metadata}

    # -- routing ----------------------------------------------------------------------
    async def handle(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
        with self._lock:
            self.requests += 1
        self.seen_auth.add(headers.get("authorization", ""))
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return json_response(401, _error("Incorrect API key provided", "invalid_api_key"))
        path, _, query = path.partition("?")
        if method == "GET" and path == "/v1/batches":
            return json_response(200, self.list_batches(query))
        if method == "POST" and path == "/v1/chat/completions":
            return await self._handle_chat(body)
        if method == "POST" and path == "/v1/files":
            name, purpose, data = multipart_file(headers.get("content-type", ""), body)
            return json_response(200, self.upload(name, purpose, data))
        if method == "GET" and path.startswith("/v1/files/"):
            parts = path.split("/")
            entry = self.files.get(parts[3])
            if entry is None:
                return json_response(404, _error("No such file", "not_found"))
            if len(parts) > 4 and parts[4] == "content":
                return 200, {"content-type": "application/octet-stream"}, entry["data"]
            return json_response(200, _public(entry))
        if method == "POST" and path == "/v1/batches":
            answer = self.create_batch(json.loads(body))
            return json_response(answer.pop("_status", 200), answer)
        if path.startswith("/v1/batches/"):
            parts = path.split("/")
            if parts[3] not in self.batches:
                return json_response(404, _error("No such batch", "not_found"))
            if method == "POST" and len(parts) > 4 and parts[4] == "cancel":
                self.batches[parts[3]].status = "cancelled"
                return json_response(200, self._batchjson_response(self.batches[parts[3]]))
            return json_response(200, self.poll_batch(parts[3]))
        return json_response(404, _error(f"no route {method} {path}", "not_found"))

    async def _handle_chat(self, raw: bytes) -> tuple[int, dict, bytes]:
        try:
            body = json.loads(raw)
        except ValueError:
            return json_response(400, _error("body is not JSON", "invalid_json"))
        self.arrivals.append((time.monotonic(), last_user(body)))
        self.bodies.append(body)
        fault = self._take_fault(body)
        if fault and fault.kind == "slow":
            await asyncio.sleep(fault.delay)
        elif self.latency:
            await asyncio.sleep(self.latency)
        if self.stall_after is not None and self.total_successes >= self.stall_after:
            await asyncio.sleep(3600)  # checked and counted with no await between: exact
        if fault and fault.kind == "drop":
            return 0, {}, b""
        if fault and fault.kind == "malformed":
            return 200, {"content-type": "application/json"}, b'{"id": "chatcmpl-broken", "choices": [{"ind'
        status, headers, answer = self.chat(body, fault)
        with self._lock:
            self.statuses[status] += 1
            self.replies.append((time.monotonic(), last_user(body), status))
        code, base, data = json_response(status, answer)
        return code, {**base, **headers}, data


def _error(message: str, code: str, type_: str = "invalid_request_error", param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _public(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k != "data"}


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = FakeOpenAI(latency=args.latency)
    server.port = args.port
    server.start()
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
