"""Streaming readers for the containers real chat dumps come in.

Handles a JSON array, JSON Lines (also inside a file named ``.json``), a single JSON
object (pretty-printed or not), bare JSON strings per line, and gzip of any of these,
sniffed from the bytes rather than the file name. Nothing is loaded whole: arrays are
decoded element by element from a growing buffer, so memory depends on the largest
record, not the file.
"""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from imitkit.collectors.errors import SourceFileError

CHUNK = 1 << 20
MAX_RECORD = 512 << 20  # a larger "record" means the file is broken, not that it is big
_decoder = json.JSONDecoder()


@dataclass(slots=True)
class RawRecord:
    index: int  # 0-based position among the file's records (blank lines are not records)
    line: int | None  # 1-based line where the record starts
    value: Any


@dataclass(slots=True)
class BadRecord:
    index: int | None
    line: int | None
    reason: str
    raw: str


class ProgressFile(io.RawIOBase):
    """Counts bytes read from the file on disk (compressed bytes for gzip) for progress bars."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)
        self.bytes_read += n or 0
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


def open_binary(path: Path) -> tuple[BinaryIO, ProgressFile]:
    if not path.exists():
        raise SourceFileError(f"{path}: no such file")
    if path.is_dir():
        raise SourceFileError(f"{path}: is a directory, not a file")
    counted = ProgressFile(open(path, "rb"))
    buffered = io.BufferedReader(counted, CHUNK)
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        return io.BufferedReader(gzip.GzipFile(fileobj=buffered), CHUNK), counted  # type: ignore[arg-type]
    return buffered, counted


def sniff_container(stream: BinaryIO, path: Path) -> str:
    """'array', 'lines' or 'object', from the first non-blank bytes of the file."""
    head = stream.peek(CHUNK)[:CHUNK]
    if head.startswith(b"\xef\xbb\xbf"):
        stream.read(3)
        head = head[3:]
    stripped = head.lstrip()
    if not stripped:
        return "empty"
    first = stripped[:1]
    if first == b"[":
        return "array"
    if first == b'"':
        return "lines"
    if first != b"{":
        shown = stripped[:40].decode("utf-8", errors="replace")
        raise SourceFileError(f"{path}: not JSON or JSON Lines (it starts with {shown!r})")
    first_line = stripped.split(b"\n", 1)[0].strip()
    try:
        json.loads(first_line)
        return "lines"
    except ValueError:
        return "object"  # a pretty-printed object (or several) spanning lines


def iter_records(path: Path, meter: list[ProgressFile] | None = None) -> Iterator[RawRecord | BadRecord]:
    """Yield every record of ``path`` in order, good or bad, never raising for a bad one.

    When ``meter`` is a list, the byte counter of the file on disk is appended to it,
    so a caller can show progress while iterating.
    """
    stream, counted = open_binary(path)
    if meter is not None:
        meter.append(counted)
    with stream:
        yield from iter_stream(stream, path)


def iter_stream(stream: BinaryIO, path: Path) -> Iterator[RawRecord | BadRecord]:
    try:
        kind = sniff_container(stream, path)
    except (OSError, EOFError) as e:
        raise SourceFileError(f"{path}: cannot read: {e}") from e
    if kind == "empty":
        return
    if kind == "lines":
        yield from _iter_lines(stream)
    else:
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace")
        yield from _iter_json_values(text, array=(kind == "array"))


def _iter_lines(stream: BinaryIO) -> Iterator[RawRecord | BadRecord]:
    index = 0
    for number, raw in enumerate(stream, start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            yield RawRecord(index, number, json.loads(line))
        except ValueError as e:
            yield BadRecord(index, number, f"invalid JSON: {e}", line.decode("utf-8", errors="replace"))
        index += 1


def _iter_json_values(text: io.TextIOBase, array: bool) -> Iterator[RawRecord | BadRecord]:
    yield from _ValueScanner(text, array)


class _ValueScanner:
    """Decodes consecutive JSON values (an array's elements, or concatenated objects).

    The buffer grows only while one record is incomplete, so memory stays bounded by
    the largest record. After a corrupt element of a pretty-printed array it
    resynchronises on the next line that starts an element at the same indentation.
    """

    MAX_RESYNC = 64 * CHUNK

    def __init__(self, text: io.TextIOBase, array: bool):
        self.text = text
        self.array = array
        self.buf = text.read(CHUNK)
        self.pos = 0
        self.line = 1
        self.eof = not self.buf
        self.indent: str | None = None  # "\n" + whitespace before the first element

    def _more(self, at_least: int = CHUNK) -> bool:
        chunk = self.text.read(max(CHUNK, at_least))
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def _skip(self, chars: str) -> None:
        while True:
            start = self.pos
            buf = self.buf
            while self.pos < len(buf) and buf[self.pos] in chars:
                self.pos += 1
            self.line += buf.count("\n", start, self.pos)
            if self.pos < len(buf) or self.eof or not self._more():
                return

    def __iter__(self) -> Iterator[RawRecord | BadRecord]:
        index = 0
        if self.array:
            self._skip(" \t\r\n")
            self.pos += 1  # the opening '['
        while True:
            before = self.pos
            self._skip(" \t\r\n," if self.array else " \t\r\n")
            if self.array and self.indent is None:
                gap = self.buf[before : self.pos]
                self.indent = gap[gap.rfind("\n") :] if "\n" in gap else ""
            if self.pos >= len(self.buf):
                if self.array:
                    yield BadRecord(index, self.line, "JSON array is not closed (file truncated?)", "")
                return
            if self.array and self.buf[self.pos] == "]":
                return
            try:
                value, end = _decoder.raw_decode(self.buf, self.pos)
            except ValueError as e:
                cut = self._cut_short(e)
                if cut and not self.eof and len(self.buf) - self.pos < MAX_RECORD:
                    self._more(len(self.buf))  # the record runs past the buffer: read more, retry
                    continue
                reason = "file ends inside a record" if cut and self.eof else "invalid JSON"
                yield BadRecord(index, self.line, f"{reason}: {e}", self.buf[self.pos : self.pos + 500])
                index += 1
                if not self._resync():
                    return
                continue
            if end >= len(self.buf) and not self.eof and self._more():
                continue  # a number at the buffer's end may be cut short: decode again
            yield RawRecord(index, self.line, value)
            self.line += self.buf.count("\n", self.pos, end)
            self.pos = end
            index += 1

    def _cut_short(self, error: ValueError) -> bool:
        """Whether decoding failed because the buffer ends inside the record."""
        at = getattr(error, "pos", len(self.buf))
        # A literal or escape cut at the end fails a few characters before it; a string
        # cut at the end reports where the string *starts*.
        return at >= len(self.buf) - 8 or str(error).startswith("Unterminated string")

    def _resync(self) -> bool:
        """Skip to the next element of a pretty-printed array; False when impossible."""
        if not self.array or not self.indent:
            return False
        marker = self.indent + "{"
        searched = self.pos + 1
        while True:
            found = self.buf.find(marker, searched)
            if found >= 0:
                self.line += self.buf.count("\n", self.pos, found + 1)
                self.pos = found + 1  # at the indentation; _skip moves to the '{'
                return True
            if self.eof or len(self.buf) - self.pos > self.MAX_RESYNC:
                return False
            searched = len(self.buf) - self.pos - len(marker)
            self._more()
