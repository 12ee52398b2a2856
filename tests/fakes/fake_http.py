"""Just enough HTTP/1.1 for the official ``openai`` client, on an asyncio server.

Keep-alive connections, Content-Length and chunked request bodies, multipart file
uploads. A handler ``async (method, path, headers, body) -> (status, headers, body)``
answers each request; status 0 closes the connection without an answer (a dropped call).
The fake API's behaviour lives in ``fake_openai.py``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Awaitable, Callable

Handler = Callable[[str, str, dict, bytes], Awaitable[tuple[int, dict, bytes]]]


def json_response(status: int, value: dict) -> tuple[int, dict, bytes]:
    return status, {"content-type": "application/json"}, json.dumps(value).encode()


def multipart_file(content_type: str, body: bytes) -> tuple[str, str, bytes]:
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    name, purpose, data = "upload", "", b""
    for part in body.split(b"--" + boundary):
        if b"\r\n\r\n" not in part:
            continue
        head, _, value = part.partition(b"\r\n\r\n")
        value = value[:-2] if value.endswith(b"\r\n") else value
        head_text = head.decode("utf-8", "replace")
        if 'name="purpose"' in head_text:
            purpose = value.decode()
        elif 'name="file"' in head_text:
            data = value
            if 'filename="' in head_text:
                name = head_text.split('filename="', 1)[1].split('"', 1)[0]
    return name, purpose, data


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests",
            500: "Internal Server Error"}


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection; requests on it are answered in order by ``handle``."""

    def __init__(self, handle: Handler):
        self.handle = handle
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._next()

    def _next(self) -> None:
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        lines = self.buffer[:head_end].decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        rest = self.buffer[head_end + 4:]
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body, rest = _dechunk(rest)
            if body is None:
                return
        else:
            length = int(headers.get("content-length") or 0)
            if len(rest) < length:
                return
            body, rest = rest[:length], rest[length:]
        self.buffer = rest
        self.busy = True
        asyncio.get_running_loop().create_task(self._answer(method, path, headers, body))

    async def _answer(self, method: str, path: str, headers: dict, body: bytes) -> None:
        status, out_headers, data = await self.handle(method, path, headers, body)
        if self.transport is None or self.transport.is_closing():
            return
        if status == 0:  # "drop": close without answering
            self.transport.close()
            return
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"content-length: {len(data)}"]
        head += [f"{k}: {v}" for k, v in out_headers.items()]
        self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
        self.busy = False
        if self.buffer:
            self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def _dechunk(data: bytes) -> tuple[bytes | None, bytes]:
    out, pos = b"", 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return None, data
        size = int(data[pos:end].split(b";")[0], 16)
        if len(data) < end + 2 + size + 2:
            return None, data
        out += data[end + 2:end + 2 + size]
        pos = end + 2 + size + 2
        if size == 0:
            return out, data[pos:]
